"""The forms' success message and the review view's sort column, without a real NocoDB
(tests/commands/bootstrap/test_review.py runs them against one)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.forms import after_submit_message, set_after_submit
from app.commands.bootstrap.review import oldest_first_column
from app.integrations.nocodb.meta import NocoDBMetaClient

OPERATORS = "Thanks! We will be in touch."
OLD_OURS = after_submit_message("http://127.0.0.1:8000/")
NEW_OURS = after_submit_message("https://faces.example.org/")


def _set(current: str | None, *, replace: bool, redirect: str | None = None) -> tuple[list[Any], list[str]]:
    """``set_after_submit`` on a form whose message is ``current``: the PATCH bodies sent, the changes."""
    patches: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            patches.append(json.loads(request.content))
            return httpx.Response(200, json={})
        return httpx.Response(200, json={"success_msg": current, "redirect_url": redirect, "columns": []})

    async def run() -> list[str]:
        changes = Changes()
        async with NocoDBMetaClient(
            base_url="http://nocodb.test", transport=httpx.MockTransport(handler)
        ) as meta:
            await set_after_submit(meta, {"id": "vw1", "title": "Upload"}, NEW_OURS, changes, replace=replace)
        return changes.lines

    return patches, asyncio.run(run())


@pytest.mark.parametrize("current", [None, "", OLD_OURS])
def test_no_message_or_facegates_own_is_written(current: str | None) -> None:
    patches, lines = _set(current, replace=False)
    assert patches == [{"success_msg": NEW_OURS}]
    assert lines == ["wrote what happens next into the success message of form 'Upload'"]


def test_an_operators_message_is_replaced_only_when_asked() -> None:
    assert _set(OPERATORS, replace=False) == ([], [])
    assert _set(OPERATORS, replace=True)[0] == [{"success_msg": NEW_OURS}]
    assert _set(NEW_OURS, replace=True) == ([], [])


def test_a_redirecting_form_gets_the_message_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    patches, _ = _set(None, replace=False, redirect="https://example.org/thanks")
    assert patches == [{"success_msg": NEW_OURS}]
    assert "its success message is not shown" in caplog.text


def test_the_message_names_the_carousel_and_every_outcome() -> None:
    message = after_submit_message("https://faces.example.org/")
    for words in ("within seconds", "https://faces.example.org/", "no face", "several faces", "moderator"):
        assert words in message
    assert "campaign's page" in after_submit_message(None)


def test_oldest_first_is_the_created_time_else_the_id() -> None:
    created = {"title": "CreatedAt", "uidt": "CreatedTime", "id": "c1"}
    row_id = {"title": "Id", "uidt": "ID", "id": "c0"}
    assert oldest_first_column({"Id": row_id, "CreatedAt": created}) is created
    assert oldest_first_column({"Id": row_id}) is row_id
