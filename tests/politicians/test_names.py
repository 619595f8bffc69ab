"""Which politician a cell names: slug, display name or form label, whatever the case and spacing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ReferenceSetError
from app.politicians.names import NameClash, PoliticianNames
from app.politicians.profiles import read_politicians

NAMES = PoliticianNames.build(
    [
        ("obama", "Barack Obama", None),
        ("biden", "Joe Biden", "President Biden"),
        ("jane-doe", "Jane Doe", None),
    ]
)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("obama", "obama"),
        ("Barack Obama", "obama"),
        ("  barack\tOBAMA ", "obama"),
        ("BIDEN", "biden"),
        ("Joe Biden", "biden"),
        ("president biden", "biden"),
        ("Jane-Doe", "jane-doe"),
        ("Barack", None),
        ("", None),
        ("Barack Obama Joe Biden", None),
    ],
)
def test_a_slug_name_or_label_names_one_politician(text: str, slug: str | None) -> None:
    assert NAMES.resolve(text) == slug


def test_forms_offer_the_label_else_the_name_in_folder_order() -> None:
    assert list(NAMES.labels.items()) == [
        ("obama", "Barack Obama"),
        ("biden", "President Biden"),
        ("jane-doe", "Jane Doe"),
    ]
    assert PoliticianNames.of_slugs(["obama"]).labels == {"obama": "obama"}


@pytest.mark.parametrize(
    "politicians",
    [
        [("obama", "Barack Obama", None), ("barack", "BARACK obama", None)],  # two display names
        [("obama", "Barack Obama", None), ("biden", "Joe Biden", "obama")],  # a label that is a slug
    ],
)
def test_a_text_naming_two_politicians_is_refused(politicians: list[tuple[str, str, str | None]]) -> None:
    with pytest.raises(NameClash):
        PoliticianNames.build(politicians)


def test_a_reference_folder_with_a_clash_is_broken(tmp_path: Path) -> None:
    for slug, name in (("obama", "Barack Obama"), ("obama-2", "barack obama")):
        (tmp_path / slug).mkdir()
        (tmp_path / slug / "profile.toml").write_text(f'name = "{name}"\nrole = "r"\ncountry = "c"\n')
        (tmp_path / slug / "a.jpg").write_bytes(b"not read here")
    with pytest.raises(ReferenceSetError, match="names both 'obama' and 'obama-2'"):
        read_politicians(tmp_path)
