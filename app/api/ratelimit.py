"""A per-client token bucket for the CPU-heavy ``POST /verify``."""

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
        if self.capacity <= 0:
            return
        now = self._clock()
        tokens, last = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.refill_per_second)
            raise RateLimited(f"Too many requests; try again in {wait} s.", retry_after=wait)
        self._buckets[client] = (tokens - 1.0, now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
