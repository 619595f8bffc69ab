"""Readiness's checks against a fake NocoDB (``httpx.MockTransport``); the same against the real
NocoDB, through /readyz, in tests/api/test_readyz_nocodb.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from app.config import FieldNames
from app.errors import CannotModerate
from app.integrations.nocodb.meta import NocoDBMetaClient
from app.readiness import Check, ReadinessMonitor, Unready, check_nocodb, check_references

BASE = "http://nocodb.test"
TABLE = "m1"
COLUMNS = [{"title": title} for title in ("Id", "Minister", "Picture", "Status")]
FIELDS = FieldNames(image="Picture", politician="Minister")

REAL_SLEEP = asyncio.sleep  # before ``no_backoff`` replaces it
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_sleep(delay: float) -> None:
        """The client's retry backoff, not slept."""

    monkeypatch.setattr("app.integrations.nocodb.http.asyncio.sleep", fake_sleep)


def checks(handler: Handler, *, stamps: bool = False) -> list[Check]:
    async def main() -> list[Check]:
        async with NocoDBMetaClient(base_url=BASE, transport=httpx.MockTransport(handler)) as meta:
            meta.use_token("tok")
            return await check_nocodb(meta, TABLE, FIELDS, stamps=stamps)

    return asyncio.run(main())


def table(columns: list[dict[str, Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", f"/api/v2/meta/tables/{TABLE}")
        assert request.headers["xc-token"] == "tok"
        return httpx.Response(200, json={"id": TABLE, "title": "Deepfakes", "columns": columns})

    return handler


def outcome(found: list[Check]) -> list[tuple[str, Unready | None]]:
    return [(check.name, check.reason) for check in found]


def test_a_table_with_its_three_columns_passes() -> None:
    found = checks(table(COLUMNS))
    assert outcome(found) == [("nocodb", None), ("token", None), ("table", None), ("columns", None)]
    assert found[2].detail == f"'Deepfakes' ({TABLE})"


def test_a_missing_column_is_named() -> None:
    found = checks(table([c for c in COLUMNS if c["title"] != "Picture"]))
    assert outcome(found)[-1] == ("columns", Unready.COLUMN_MISSING)
    assert "no column 'Picture' (image)" in found[-1].detail


def test_an_image_column_that_is_no_attachment_is_named() -> None:
    # Its cells would no longer be attachments: rows are held (column_type), and /readyz says why.
    typed = [{**c, "uidt": "SingleLineText"} if c["title"] == "Picture" else c for c in COLUMNS]
    found = checks(table(typed))
    assert outcome(found)[-1] == ("columns", Unready.COLUMN_TYPE)
    assert "'Picture' is SingleLineText, not Attachment" in found[-1].detail
    typed = [{**c, "uidt": "Attachment"} if c["title"] == "Picture" else c for c in COLUMNS]
    assert outcome(checks(table(typed)))[-1] == ("columns", None)


def test_the_stamp_column_is_needed_once_facegate_writes_stamps() -> None:
    # NocoDB ignores a PATCH's unknown fields: without the column the stamps would be lost unseen.
    assert outcome(checks(table(COLUMNS)))[-1] == ("columns", None)  # no STAMP_SECRET: not needed
    found = checks(table(COLUMNS), stamps=True)
    assert outcome(found)[-1] == ("columns", Unready.COLUMN_MISSING)
    assert "no column 'Facegate stamp' (stamp)" in found[-1].detail
    with_stamps = [*COLUMNS, {"title": "Facegate stamp"}]
    assert outcome(checks(table(with_stamps), stamps=True))[-1] == ("columns", None)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"msg": "Unauthorized"}, ("token", Unready.NOCODB_TOKEN_REFUSED)),
        (403, {"msg": "Forbidden"}, ("token", Unready.NOCODB_TOKEN_REFUSED)),
        (
            404,
            {"error": "ERR_TABLE_NOT_FOUND", "message": "Table 'm1' not found"},
            ("table", Unready.TABLE_NOT_FOUND),
        ),
        (400, {"msg": "Invalid table"}, ("table", Unready.TABLE_NOT_FOUND)),
        (503, {"msg": "down"}, ("nocodb", Unready.NOCODB_UNREACHABLE)),
    ],
)
def test_nocodbs_refusals_each_have_their_reason(
    status: int, body: dict[str, str], expected: tuple[str, Unready]
) -> None:
    found = checks(lambda _: httpx.Response(status, json=body))
    assert outcome(found)[-1] == expected
    assert all(check.passed for check in found[:-1])  # what it got past; nothing after the failure


def test_no_answer_is_unreachable() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    found = checks(refused)
    assert outcome(found) == [("nocodb", Unready.NOCODB_UNREACHABLE)]
    assert "ConnectError" in found[0].detail


def test_a_nocodb_that_hangs_is_unreachable_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.readiness.CHECK_TIMEOUT_SECONDS", 0.05)

    async def hangs(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    assert outcome(checks(hangs)) == [("nocodb", Unready.NOCODB_UNREACHABLE)]


def test_no_politician_is_references_empty() -> None:
    assert check_references(0).reason is Unready.REFERENCES_EMPTY
    assert check_references(2) == Check("references", "2 politicians")


def test_the_monitor_raises_the_first_failure_and_logs_only_changes(caplog: pytest.LogCaptureFixture) -> None:
    outcomes = [
        [Check("nocodb", "answers"), Check("token", "refused (HTTP 401)", Unready.NOCODB_TOKEN_REFUSED)],
        [Check("nocodb", "answers"), Check("token", "refused (HTTP 401)", Unready.NOCODB_TOKEN_REFUSED)],
        [Check("nocodb", "answers"), Check("token", "accepted")],
    ]

    async def check() -> list[Check]:
        return outcomes.pop(0)

    monitor = ReadinessMonitor(check)
    with caplog.at_level(logging.INFO, logger="app.readiness"):
        asyncio.run(monitor.refresh())
        with pytest.raises(CannotModerate) as refused:
            monitor.require(politicians=2)
        assert refused.value.code == "nocodb_token_refused" and refused.value.status_code == 503
        assert refused.value.detail == {"check": "token", "checked_at": monitor.checked_at}
        asyncio.run(monitor.refresh())  # the same failure: not logged again
        asyncio.run(monitor.refresh())
        monitor.require(politicians=2)
        with pytest.raises(CannotModerate) as empty:
            monitor.require(politicians=0)
        assert empty.value.code == "references_empty"
    assert [r.getMessage() for r in caplog.records] == [
        "facegate cannot moderate (nocodb_token_refused): token: refused (HTTP 401)",
        "NocoDB checks pass: facegate can moderate",
    ]


def test_without_nocodb_settings_there_is_nothing_of_nocodbs_to_check() -> None:
    monitor = ReadinessMonitor()
    assert asyncio.run(monitor.refresh()) == [] and not monitor.configured
    monitor.require(politicians=1)


def test_the_monitor_checks_again_sooner_while_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("asyncio.sleep", REAL_SLEEP)  # the monitor's waits are the test
    monkeypatch.setattr("app.readiness.RECHECK_UNHEALTHY_SECONDS", 0.01)
    monkeypatch.setattr("app.readiness.RECHECK_HEALTHY_SECONDS", 60.0)
    failing = Check("nocodb", "ConnectError", Unready.NOCODB_UNREACHABLE)
    outcomes = [[failing], [failing], [Check("nocodb", "answers")]]
    seen: list[float] = []

    async def check() -> list[Check]:
        seen.append(asyncio.get_running_loop().time())
        return outcomes.pop(0) if outcomes else [Check("nocodb", "answers")]

    async def main() -> None:
        monitor = ReadinessMonitor(check)
        await monitor.refresh()  # at start
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(0.5)
        task.cancel()
        assert monitor.failure is None

    asyncio.run(main())
    # At start, twice more 0.01 s apart while failing; then not again for a minute.
    assert len(seen) == 3
