"""Figures shared by the tests, the benchmarks and the scripts: percentiles, summaries, process memory."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Sequence

import psutil

MIB = 1024 * 1024


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 100]."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def tree_rss(pid: int) -> dict[str, int]:
    """Resident bytes of a process and each of its descendants, by ``name pid``; {} once it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out: dict[str, int] = {}
    for process in processes:
        # A face worker may exit between the listing and the reading.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            out[f"{process.name()} {process.pid}"] = process.memory_info().rss
    return out


class RssSampler:
    """Samples the total ``tree_rss(pid)`` every ``interval`` seconds in a thread, inside ``with``."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (time.perf_counter(), bytes)
        self.peak: dict[str, int] = {}  # bytes by process, at the largest total
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            by_process = tree_rss(self.pid)
            total = sum(by_process.values())
            self.samples.append((time.perf_counter(), total))
            if total > sum(self.peak.values()):
                self.peak = by_process
            self._stop.wait(self.interval)

    @property
    def totals(self) -> list[int]:
        return [rss for _, rss in self.samples]

    def between(self, start: float, end: float) -> list[int]:
        """The totals sampled between two ``time.perf_counter()`` readings."""
        return [rss for t, rss in self.samples if start <= t <= end]

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
