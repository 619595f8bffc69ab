"""The worker processes that run dlib: one ``FaceEngine`` per process, loaded once.

dlib is not thread-safe and holds the GIL for long stretches, so facegate parallelises by process.
The pool is started with ``spawn`` (no fork of a running event loop) and warmed up before use.
A worker decodes each picture once: for its faces and, when asked, for its carousel renditions
(``app.faces.renditions``), so the main process never decodes a picture it moderates. What comes
back is plain frozen dataclasses (``FoundFaces``, ``Analysis``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from app.errors import ServiceError
from app.faces.engine import EngineConfig, FaceEngine, FoundFaces
from app.faces.intake import DecodedImage, Limits, decode
from app.faces.renditions import Rendition, render
from app.metrics import ANALYSIS_SECONDS

__all__ = ["DEFAULT_TIMEOUT", "Analysis", "FacePool"]

# Generous: a 50 MP image decodes and is analysed in about 2 s on these machines.
DEFAULT_TIMEOUT = 60.0

_engine: FaceEngine | None = None


@dataclass(frozen=True)
class Analysis:
    """A worker's answer on one picture: its faces and, when asked for and exactly one face was found
    (the only kind of picture that can be approved), its carousel renditions as JPEG bytes, made from
    the pixels decoded for the faces. ``unrenderable`` says why there are none when Pillow could not
    make them."""

    faces: FoundFaces
    renditions: dict[Rendition, bytes] | None = None
    unrenderable: str | None = None


def _init_worker(config: EngineConfig) -> None:
    global _engine
    _engine = FaceEngine(config)


def _analyse(data: bytes, limits: Limits, renditions: bool) -> Analysis:
    assert _engine is not None, "worker not initialised"
    decoded = decode(data, limits)
    faces = _engine.find_faces(decoded)
    if renditions and len(faces.boxes) == 1:
        return _rendered(faces, decoded)
    return Analysis(faces)


def _rendered(faces: FoundFaces, decoded: DecodedImage) -> Analysis:
    try:
        return Analysis(faces, render(decoded.image))
    except Exception as exc:  # Pillow's many exception types: the picture is not approved, the job goes on
        return Analysis(faces, unrenderable=f"The image cannot be rendered: {exc}")


def _ready() -> bool:
    return _engine is not None


class FacePool:
    """Runs ``decode`` + ``FaceEngine.find_faces`` (+ ``render``) in ``workers`` processes.

    A call that takes longer than ``timeout`` seconds, or a worker that dies (killed, or crashed in
    native code), costs one rebuild of the pool: the calls in flight fail with ``ServiceError`` and
    their jobs are retried.
    """

    def __init__(
        self, *, config: EngineConfig, limits: Limits, workers: int, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.config = config
        self.limits = limits
        self.workers = workers
        self.timeout = timeout
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
        """Decode one image and find its faces; raises ``ImageRejected`` for bad bytes."""
        return (await self.analyse(data, renditions=False)).faces

    async def analyse(self, data: bytes, *, renditions: bool) -> Analysis:
        """Decode one image, find its faces and, with ``renditions`` and exactly one face, make its
        carousel renditions from the same pixels; raises ``ImageRejected`` for bad bytes."""
        loop = asyncio.get_running_loop()
        executor = self._executor
        try:
            with ANALYSIS_SECONDS.time():
                return await asyncio.wait_for(
                    loop.run_in_executor(executor, _analyse, data, self.limits, renditions), self.timeout
                )
        except TimeoutError as exc:
            self._replace(executor, kill=True)
            raise ServiceError(f"Analysing the image took more than {self.timeout:.0f} s.") from exc
        except BrokenProcessPool as exc:
            self._replace(executor, kill=False)
            raise ServiceError("A face worker stopped while analysing the image; try again.") from exc

    def _replace(self, broken: ProcessPoolExecutor, *, kill: bool) -> None:
        if broken is not self._executor:
            return  # another call already replaced it
        self._executor = self._new_executor()
        if kill:
            # A stuck worker never returns: its process must go. (The executor keeps them privately.)
            for process in list(getattr(broken, "_processes", {}).values()):
                process.kill()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self, grace: float = 10.0) -> None:
        """Stop the workers: those still busy after ``grace`` seconds are killed."""
        processes = list(getattr(self._executor, "_processes", {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
