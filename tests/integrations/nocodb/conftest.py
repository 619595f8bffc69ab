from __future__ import annotations

import pytest


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The NocoDB clients' backoff delays, recorded instead of slept."""
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr("app.integrations.nocodb.http.asyncio.sleep", fake_sleep)
    return delays
