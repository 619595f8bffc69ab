"""Fixtures of the hostile input suite: the real app's face workers, a fresh store, no rate limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.ratelimit import RateLimiter


@pytest.fixture
def unlimited(client: TestClient) -> Iterator[TestClient]:
    """The session client with the /verify rate limit off, so many hostile requests fit in a minute."""
    state = client.app.state  # type: ignore[attr-defined]
    saved, state.verify_limiter = state.verify_limiter, RateLimiter(0)
    yield client
    state.verify_limiter = saved
