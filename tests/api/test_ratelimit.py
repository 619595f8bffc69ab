from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.ratelimit import MAX_CLIENTS, CredentialGuard, RateLimiter
from app.errors import RateLimited
from harness.images import sample
from tests.utils.clock import T0, Clock


def test_bucket_allows_bursts_then_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock.time)
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(RateLimited) as info:
        limiter.check("a")
    assert info.value.retry_after == 20  # 3 per minute: one token every 20 s
    limiter.check("b")  # other clients are not affected
    clock.now = T0 + 20.0
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")


def test_zero_disables_and_memory_is_bounded() -> None:
    unlimited = RateLimiter(0)
    for _ in range(1000):
        unlimited.check("a")
    limiter = RateLimiter(5)
    for i in range(MAX_CLIENTS + 50):
        limiter.check(str(i))
    assert len(limiter._buckets) == MAX_CLIENTS


def test_looking_without_taking_keeps_no_bucket() -> None:
    # Every request without a credential looks (before_checking); only failures take. Looks from
    # 20 000 addresses must not grow the table past its bound.
    guard = CredentialGuard(5)
    for i in range(20_000):
        guard.before_checking(f"2001:db8:{i:x}::/64")
    assert len(guard._failures._buckets) == 0
    guard.failed("2001:db8:1::/64")
    guard.before_checking("2001:db8:1::/64")
    assert len(guard._failures._buckets) == 1


def test_verify_answers_429_with_retry_after(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    saved, state.verify_limiter = state.verify_limiter, RateLimiter(1)
    try:
        files = {"image": ("a.png", sample("cat.png"), "image/png")}
        assert client.post("/verify", files=files).status_code == 200
        limited = client.post("/verify", files=files)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert limited.json()["error"]["code"] == "rate_limited"
    finally:
        state.verify_limiter = saved


def test_credential_guard_counts_failures_per_client() -> None:
    clock = Clock()
    guard = CredentialGuard(2, clock=clock.time)
    for _ in range(2):
        guard.before_checking("attacker")
        guard.failed("attacker")
    with pytest.raises(RateLimited) as info:
        guard.before_checking("attacker")
    assert info.value.retry_after == 30 and "wrong credentials" in info.value.message
    guard.before_checking("operator")  # others are not affected
    clock.now = T0 + 30.0
    guard.before_checking("attacker")  # one more guess after the refill
    guard.failed("attacker")
    guard.succeeded("attacker")  # the right credential: a full budget again
    guard.before_checking("attacker")
