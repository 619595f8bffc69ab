"""The worker processes that run dlib: one ``FaceEngine`` per process, loaded once.

dlib is not thread-safe and holds the GIL for long stretches, so facegate parallelises by process.
The pool is started with ``spawn`` (no fork of a running event loop) and warmed up before use.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from app.errors import ServiceError
from app.faces.engine import EngineConfig, FaceEngine, FoundFaces
from app.faces.intake import Limits, decode

_engine: FaceEngine | None = None


def _init_worker(config: EngineConfig) -> None:
    global _engine
    _engine = FaceEngine(config)


def _find_faces(data: bytes, limits: Limits) -> FoundFaces:
    assert _engine is not None, "worker not initialised"
    return _engine.find_faces(decode(data, limits))


def _ready() -> bool:
    return _engine is not None


class FacePool:
    """Runs ``decode`` + ``FaceEngine.find_faces`` in ``workers`` processes."""

    def __init__(self, *, config: EngineConfig, limits: Limits, workers: int) -> None:
        self.config = config
        self.limits = limits
        self.workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.config,),
        )

    async def warm_up(self) -> None:
        """Start every worker and load its models now, not on the first upload."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.workers)))

    async def find_faces(self, data: bytes) -> FoundFaces:
        """Decode and analyse one image; raises ``ImageRejected`` for bad bytes."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, _find_faces, data, self.limits)
        except BrokenProcessPool as exc:
            # A worker died (killed, or crashed in native code): replace the pool, fail this call.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            raise ServiceError("A face worker stopped while analysing the image; try again.") from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
