"""A clock for the tests, moved by hand."""

from __future__ import annotations

__all__ = ["T0", "Clock"]

T0 = 1_800_000_000.0


class Clock:
    """A clock moved by hand, from ``T0``: the stores' (``Database(..., clock=clock.time)``) and the
    rate limiters'."""

    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now
