"""``FORM_URL`` on a rerun: kept unless given a new public address (tests/commands/bootstrap/test_attach.py
runs the same against the real NocoDB)."""

from __future__ import annotations

import pytest

from app.commands.bootstrap.command import form_url_setting

INTERNAL = "http://nocodb:8080"
FORM = f"{INTERNAL}/#/nc/form/new-uuid"


@pytest.mark.parametrize(
    ("public", "current", "expected"),
    [
        (None, None, FORM),  # a first run: NocoDB's address is all there is
        ("https://forms.example.org/", None, "https://forms.example.org/#/nc/form/new-uuid"),
        (
            None,
            "https://forms.example.org/#/nc/form/new-uuid",
            "https://forms.example.org/#/nc/form/new-uuid",
        ),
        # Another form (another table): its link, on the public address the setting had.
        (
            None,
            "https://forms.example.org/#/nc/form/old-uuid",
            "https://forms.example.org/#/nc/form/new-uuid",
        ),
        # The operator's own page: theirs to change.
        (None, "https://campaign.example.org/upload", "https://campaign.example.org/upload"),
        (
            "https://nocodb.example.org",
            "https://campaign.example.org/upload",
            "https://nocodb.example.org/#/nc/form/new-uuid",
        ),
    ],
)
def test_the_form_url_is_kept_unless_a_public_address_is_given(
    public: str | None, current: str | None, expected: str
) -> None:
    assert form_url_setting(FORM, INTERNAL, public, current) == expected


def test_no_shared_form_leaves_the_setting_as_it_is() -> None:
    assert form_url_setting(None, INTERNAL, "https://forms.example.org", "https://x.example/") is None
