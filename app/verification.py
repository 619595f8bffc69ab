"""Verification: bytes and an optional claimed politician in, a ``Verdict`` out.

Used by ``POST /verify`` (``verify_upload``, strict about what is not an image) and by the moderation
loop (``verify_image``, which turns every bad image into a ``rejected`` verdict, and brings an approved
image's carousel renditions, made by the face worker from the pixels it decoded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from app.errors import (
    FacegateError,
    InvalidRequest,
    NotReady,
    PayloadTooLarge,
    ServiceError,
    UnknownPolitician,
    UnsupportedMediaType,
)
from app.faces.engine import FoundFaces
from app.faces.intake import ImageRejected, RejectKind
from app.faces.pool import FacePool
from app.faces.renditions import Rendition
from app.faces.verdict import NO_GATE, ExplicitGate, Verdict, decide
from app.metrics import VERDICTS
from app.outcomes import Decision, Reason
from app.politicians.references import EncodingCache, ReferenceSet, load_reference_set

__all__ = ["CheckedImage", "FaceService"]

log = logging.getLogger(__name__)

_UPLOAD_ERRORS: dict[RejectKind, type[FacegateError]] = {
    RejectKind.EMPTY: InvalidRequest,
    RejectKind.TOO_LARGE: PayloadTooLarge,
    RejectKind.UNSUPPORTED: UnsupportedMediaType,
}


@dataclass(frozen=True)
class CheckedImage:
    """An image from NocoDB, verified: the verdict, what was wrong with the image (None when nothing
    was), and, asked for and only with an ``approved`` verdict, the carousel's renditions of it."""

    verdict: Verdict
    problem: str | None = None
    renditions: dict[Rendition, bytes] | None = None


class FaceService:
    """Holds the reference set and the worker pool; decides images."""

    def __init__(
        self,
        *,
        pool: FacePool,
        reference_dir: Path,
        cache: EncodingCache,
        default_tolerance: float,
        review_band: float = 0.0,
        gate: ExplicitGate = NO_GATE,
    ) -> None:
        self.pool = pool
        self.reference_dir = reference_dir
        self.cache = cache
        self.default_tolerance = default_tolerance
        self.review_band = review_band
        self.gate = gate
        self._references: ReferenceSet | None = None
        self.load_error: str | None = None
        self._reload_lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self._references is not None

    @property
    def references(self) -> ReferenceSet:
        if self._references is None:
            raise NotReady("The reference faces are not loaded.", detail={"load_error": self.load_error})
        return self._references

    async def reload(self) -> ReferenceSet:
        """Re-read the reference folder; on error the previous set stays in use."""
        async with self._reload_lock:
            try:
                loaded = await load_reference_set(
                    reference_dir=self.reference_dir, cache=self.cache, pool=self.pool
                )
            except ServiceError as exc:  # a broken folder, or a worker lost while encoding
                self.load_error = exc.message
                log.error("reference faces not loaded: %s", exc.message)
                raise
            self._references, self.load_error = loaded, None
            return loaded

    def resolve_politician(self, name: str | None) -> str | None:
        """The slug ``name`` (a slug, display name or form label) stands for; None for no name.
        ``UnknownPolitician`` when it names nobody."""
        if name is None:
            return None
        slug = self.references.resolve(name)
        if slug is None:
            raise UnknownPolitician(
                f"Unknown politician {name[:64]!r}.",
                detail={"known": sorted(self.references.politicians)},
            )
        return slug

    async def verify_upload(self, data: bytes, politician: str | None) -> Verdict:
        """Verify an operator's upload: an empty, oversized or non-image file is a 4xx error.
        ``politician`` may be a slug, a display name or a form label."""
        politician = self.resolve_politician(politician)
        references = self.references  # not ready: no image is analysed
        try:
            verdict = self._decide(await self.pool.find_faces(data), politician, references)
        except ImageRejected as exc:
            error = _UPLOAD_ERRORS.get(exc.kind)
            if error is not None:
                raise error(exc.message) from exc
            verdict = self.unreadable(politician)
        VERDICTS.labels(source="verify", decision=verdict.decision.value, reason=verdict.reason.value).inc()
        return verdict

    async def verify_image(self, data: bytes, politician: str | None, *, renditions: bool) -> CheckedImage:
        """Verify an image from NocoDB; every bad image is a rejection, with the problem. With
        ``renditions``, an approved image comes with its renditions; one that cannot be rendered is
        rejected (``unreadable_image``), as the carousel could not show it."""
        references = self.references  # not ready: no image is analysed
        try:
            analysis = await self.pool.analyse(data, renditions=renditions)
        except ImageRejected as exc:
            return CheckedImage(self.unreadable(politician), exc.message)
        verdict = self._decide(analysis.faces, politician, references)
        if not renditions or verdict.decision is not Decision.APPROVED:
            return CheckedImage(verdict)  # renditions made for a picture not approved are dropped
        if analysis.renditions is None:
            unrenderable = dataclasses.replace(
                verdict, decision=Decision.REJECTED, reason=Reason.UNREADABLE_IMAGE, politician=politician
            )
            return CheckedImage(unrenderable, analysis.unrenderable)
        return CheckedImage(verdict, renditions=analysis.renditions)

    def _decide(self, found: FoundFaces, politician: str | None, references: ReferenceSet) -> Verdict:
        return decide(
            boxes=found.boxes,
            encodings=found.encodings,
            references=references.matrix,
            tolerances=references.tolerances,
            default_tolerance=self.default_tolerance,
            expected=politician,
            review_band=self.review_band,
            review_bands=references.review_bands,
            detections=found.explicit,
            gate=self.gate,
        )

    def unreadable(self, politician: str | None) -> Verdict:
        """The verdict on bytes that are not a usable image: rejected, no faces."""
        references = self._references
        tolerances = references.tolerances if references else {}
        bands = references.review_bands if references else {}
        return Verdict(
            decision=Decision.REJECTED,
            reason=Reason.UNREADABLE_IMAGE,
            politician=politician,
            faces=[],
            tolerance=tolerances.get(politician or "", self.default_tolerance),
            review_band=bands.get(politician or "", self.review_band),
        )
