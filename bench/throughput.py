"""Photos per second through ``app.faces.pool.FacePool`` with 1 worker and with one per core.

All photos are submitted at once (``asyncio.gather``), as the queue runner does with its jobs. The
configurations are measured in the order A B B A (1, N, N, 1 workers), so slow drift of a shared
machine hits both alike; each configuration's rate is the mean of its two rounds.

Also the worker warm-up lever: the first call on a cold pool (process spawn, dlib import, model load)
against the first call after ``warm_up()`` and a steady call.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from app.faces.pool import FacePool
from bench.common import SIZES, engine_config, jpeg_of, limits

PHOTOS = ("obama2.jpg", "biden.jpg", "obama3.jpg", "obama.jpg")


def mix(count: int) -> list[tuple[str, str, bytes]]:
    """``count`` photos as (sample, size, JPEG), half medium and half phone-size, from several samples."""
    sizes = ("medium", "phone")
    out = []
    for i in range(count):
        name, size = PHOTOS[i % len(PHOTOS)], sizes[(i // len(PHOTOS)) % 2]
        out.append((name, size, jpeg_of(name, SIZES[size])))
    return out


def workload(count: int) -> list[bytes]:
    """``count`` photos of ``mix``, as bytes."""
    return [data for _, _, data in mix(count)]


async def _round(pool: FacePool, photos: list[bytes], workers: int) -> float:
    started = time.perf_counter()
    if workers == 1 and pool.workers > 1:  # one photo at a time: one worker busy
        results = [await pool.find_faces(p) for p in photos]
    else:
        results = await asyncio.gather(*(pool.find_faces(p) for p in photos))
    elapsed = time.perf_counter() - started
    assert len(results) == len(photos)
    return elapsed


async def _measure(
    workers_list: list[int], photos: list[bytes], rounds: int, single_pool: bool
) -> dict[int, list[float]]:
    if single_pool:
        shared = FacePool(config=engine_config(), limits=limits(), workers=max(workers_list))
        pools = {w: shared for w in workers_list}
    else:
        pools = {w: FacePool(config=engine_config(), limits=limits(), workers=w) for w in workers_list}
    try:
        # Start every pool's workers at once (not timed), then a first real call in every worker.
        await asyncio.gather(*(pool.warm_up() for pool in set(pools.values())))
        for pool in set(pools.values()):
            await asyncio.gather(*(pool.find_faces(photos[0]) for _ in range(pool.workers)))
        elapsed: dict[int, list[float]] = {w: [] for w in pools}
        order = workers_list + workers_list[::-1]
        for _ in range(rounds):
            for w in order:
                elapsed[w].append(await _round(pools[w], photos, w))
        return elapsed
    finally:
        for pool in set(pools.values()):
            pool.close()


def run(count: int = 40, rounds: int = 1, single_pool: bool = False) -> dict[str, Any]:
    """``single_pool`` (smoke runs) saves a pool start: "1 worker" is then one photo at a time."""
    cores = os.cpu_count() or 1
    many = max(2, cores)
    photos = workload(count)
    elapsed = asyncio.run(_measure([1, many], photos, rounds, single_pool))
    rate = {w: count / statistics.mean(times) for w, times in elapsed.items()}
    return {
        "photos": count,
        "cores": cores,
        "mix": "half medium (1.5 MP), half phone (12 MP) JPEG",
        "single_pool": single_pool,
        "workers": {
            str(w): {"seconds": elapsed[w], "photos_per_s": rate[w]} for w in sorted(elapsed, key=int)
        },
        "scaling": rate[many] / rate[1],
    }


async def _warm_up_lever(photo: bytes, steady_runs: int) -> dict[str, float]:
    cold = FacePool(config=engine_config(), limits=limits(), workers=1)
    try:
        started = time.perf_counter()
        await cold.find_faces(photo)
        cold_first = time.perf_counter() - started
    finally:
        cold.close()
    warm = FacePool(config=engine_config(), limits=limits(), workers=1)
    try:
        started = time.perf_counter()
        await warm.warm_up()
        warm_up = time.perf_counter() - started
        started = time.perf_counter()
        await warm.find_faces(photo)
        warm_first = time.perf_counter() - started
        steady = []
        for _ in range(steady_runs):
            started = time.perf_counter()
            await warm.find_faces(photo)
            steady.append(time.perf_counter() - started)
    finally:
        warm.close()
    return {
        "cold_first_call_s": cold_first,
        "warm_up_s": warm_up,
        "warmed_first_call_s": warm_first,
        "steady_call_s": statistics.median(steady),
    }


def warm_up_lever(steady_runs: int = 5) -> dict[str, float]:
    """First-call latency of a cold pool against a warmed one (medium photo, 1 worker)."""
    return asyncio.run(_warm_up_lever(jpeg_of("obama2.jpg", SIZES["medium"]), steady_runs))


if __name__ == "__main__":
    print(run())
    print(warm_up_lever())
