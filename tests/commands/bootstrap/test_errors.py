"""NocoDB's errors as ``facegate bootstrap`` words them: one ``BootstrapError``, without a real NocoDB
(tests/commands/bootstrap/test_attach.py runs the same refusals through the command line)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.commands.bootstrap.errors import BootstrapError, nocodb_errors
from app.commands.bootstrap.nocodb import attach
from app.errors import CommandError
from app.integrations.nocodb.errors import NocoDBRequestError
from app.integrations.nocodb.http import MAX_ATTEMPTS

BASE = "http://nocodb.test"


@pytest.fixture(autouse=True)
def no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_sleep(delay: float) -> None:
        """The retries' backoff, not slept."""

    monkeypatch.setattr("app.integrations.nocodb.http.asyncio.sleep", fake_sleep)


def attach_to(handler: httpx.MockTransport) -> None:
    asyncio.run(
        attach(
            base_url=BASE + "/",
            api_token="tok-1",
            table_id="m1",
            facegate_url="http://facegate.test",
            webhook_secret="s",
            politicians=["obama"],
            transport=handler,
        )
    )


def test_an_unreachable_nocodb_is_named_by_its_address_after_the_retries() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("All connection attempts failed", request=request)

    with pytest.raises(BootstrapError) as failed:
        attach_to(httpx.MockTransport(handler))
    assert failed.value.message == (
        f"NocoDB is not reachable at {BASE}: ConnectError: All connection attempts failed"
    )
    assert isinstance(failed.value, CommandError) and failed.value.status is None
    assert calls == MAX_ATTEMPTS  # a read: retried like the records client's


def test_a_refused_token_names_the_settings_that_hold_it() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401, json={"msg": "Authentication required - Invalid token"})

    with pytest.raises(BootstrapError) as failed:
        attach_to(httpx.MockTransport(handler))
    assert failed.value.message == (
        "NocoDB refuses the API token (HTTP 401): check NOCODB_API_TOKEN or FACEGATE_NOCODB_API_TOKEN"
    )
    assert failed.value.status == 401 and calls == 1


def test_any_other_refusal_keeps_nocodbs_message_and_status() -> None:
    message = "NocoDB refused POST api/v2/auth/user/signin: 400 Invalid credentials"
    refusal = NocoDBRequestError(message, status_code=400)
    with pytest.raises(BootstrapError) as failed, nocodb_errors(BASE):
        raise refusal
    assert (failed.value.message, failed.value.status) == (refusal.message, 400)
    assert failed.value.__cause__ is refusal
