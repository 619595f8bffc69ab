"""Per-client token buckets: requests to the CPU-heavy ``POST /verify``, and wrong credentials."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from app.errors import RateLimited

# Clients remembered at most; the least recently seen are forgotten first, so memory stays bounded.
MAX_CLIENTS = 10_000


class RateLimiter:
    """``rate_per_minute`` requests per client, with bursts of up to that many; 0 disables it."""

    def __init__(self, rate_per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(rate_per_minute)
        self.refill_per_second = rate_per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, client: str) -> None:
        """Take one token for ``client`` or raise ``RateLimited`` with the seconds to wait."""
        self.ensure_available(client)
        self.take(client)

    def ensure_available(self, client: str) -> None:
        """Raise ``RateLimited`` if ``client`` has no token left; take none (and keep no bucket for a
        client that has taken none: a look from every address of a /48 leaves nothing behind)."""
        if self.capacity <= 0 or client not in self._buckets:
            return
        tokens = self._tokens(client, self._clock())
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self.refill_per_second)
            raise RateLimited(f"Too many requests; try again in {wait} s.", retry_after=wait)

    def take(self, client: str) -> None:
        """Take one token for ``client``, whether or not one is left."""
        if self.capacity <= 0:
            return
        now = self._clock()
        self._buckets[client] = (max(0.0, self._tokens(client, now) - 1.0), now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)

    def forget(self, client: str) -> None:
        """Give ``client`` a full bucket again."""
        self._buckets.pop(client, None)

    def _tokens(self, client: str, now: float) -> float:
        tokens, last = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
        self._buckets[client] = (tokens, now)  # most recently seen last
        return tokens


class CredentialGuard:
    """Wrong operator keys, metrics tokens and webhook secrets: ``failures_per_minute`` per client.

    A client over its budget is refused before its credential is compared, so a brute force learns
    nothing more, not even from timing, until the budget refills. Other clients are not affected, and
    a right credential gives its client a full budget again.
    """

    def __init__(self, failures_per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures = RateLimiter(failures_per_minute, clock=clock)

    def before_checking(self, client: str) -> None:
        """Raise ``RateLimited`` if ``client`` has used up its failures."""
        try:
            self._failures.ensure_available(client)
        except RateLimited as exc:
            wait = exc.retry_after
            raise RateLimited(
                f"Too many wrong credentials from this address; try again in {wait} s.", retry_after=wait
            ) from None

    def failed(self, client: str) -> None:
        self._failures.take(client)

    def succeeded(self, client: str) -> None:
        self._failures.forget(client)
