"""The reference page of one upload (``GET /review/{token}``): what a moderator needs to settle a
row that waits, gathered for the page (``app.api.review_html`` writes it).

Opened from the link in the row's note (``app.moderation.links``): the token names the table, the
row and a digest of the upload's key, so the page shows that upload or none, never whatever holds the
row's Id now. It gathers facegate's decision from the decision log, the upload's pictures from NocoDB
(only when facegate analysed them: a foreign attachment is never fetched), the politician's reference
photos from ``reference_faces/``, and the thresholds in use; pictures become small JPEG thumbnails,
made in a thread. Nothing is stored.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from app.faces.intake import ImageRejected, Limits, decode
from app.integrations.nocodb.errors import AttachmentRefused
from app.moderation.decisions import DecisionLog, DecisionRecord
from app.moderation.download import Downloader, RowGone
from app.moderation.links import InvalidLink, LinkTarget, ReviewLinks, key_digest
from app.outcomes import Decision, Reason, Source
from app.politicians.profiles import Politician
from app.verification import FaceService

__all__ = ["Finding", "InvalidLink", "Picture", "ReviewPage", "ReviewView", "UploadGone"]

THUMBNAIL_SIDE = 320
JPEG_QUALITY = 82
# A row holds at most FACEGATE_MAX_IMAGES_PER_ROW images; the page shows no more than this of them.
MAX_UPLOAD_PICTURES = 4
MAX_REFERENCE_PICTURES = 8
# The reasons of decisions made on the pictures themselves: only then are they fetched for the page.
ANALYSED = frozenset(
    {
        Reason.MATCH,
        Reason.NEAR_TOLERANCE,
        Reason.NO_MATCH,
        Reason.NO_FACE,
        Reason.MULTIPLE_FACES,
        Reason.EXPLICIT_CONTENT,
        Reason.UNREADABLE_IMAGE,
        Reason.ANALYSIS_FAILED,
    }
)
# How the face check words explicit findings in a decision's detail (``app.moderation.decide``).
FINDINGS_PREFIX = "Found: "


class UploadGone(Exception):
    """The row the link names is deleted, another upload by now, or has no decision of facegate's."""


@dataclass(frozen=True)
class Picture:
    """A picture as the page shows it: a ``data:image/jpeg;base64`` URI, or None and why not."""

    label: str
    data_uri: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Finding:
    """An explicit-content label the detector found, and its score."""

    label: str
    score: str


@dataclass(frozen=True)
class ReviewView:
    """Everything the reference page shows about one upload."""

    table_id: str
    row_id: int
    slug: str | None
    name: str | None  # the politician's display name; None: not in reference_faces/ (now)
    decision: Decision
    reason: Reason
    detail: str | None
    decided_at: float
    # A moderator's decision since facegate's, if any.
    settled_by_moderator: Decision | None
    # Each face's distance to the politician named (faces not compared are not listed).
    distances: list[float]
    tolerance: float
    review_band: float
    findings: list[Finding]
    uploads: list[Picture]
    references: list[Picture]
    expires_at: float

    @property
    def approve_at_most(self) -> float:
        return self.tolerance - self.review_band

    @property
    def delete_above(self) -> float:
        return self.tolerance + self.review_band


class ReviewPage:
    """Verifies a link's token and gathers what its upload's page shows."""

    def __init__(
        self,
        *,
        links: ReviewLinks,
        decisions: DecisionLog,
        downloader: Downloader,
        faces: FaceService,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.links = links
        self.decisions = decisions
        self.downloader = downloader
        self.faces = faces
        # Decoded straight at a reduced scale (JPEG): the page needs no more than twice its thumbnails.
        self.limits = dataclasses.replace(limits, max_side=2 * THUMBNAIL_SIDE)
        self.clock = clock

    async def view(self, token: str) -> ReviewView:
        """The page of the upload ``token`` names. ``InvalidLink`` for a token expired, forged or
        malformed; ``UploadGone`` when that upload is no longer in NocoDB (or in the log);
        ``NocoDBUnavailable`` when NocoDB does not answer."""
        target = self.links.verify(token, now=self.clock())
        record = await asyncio.to_thread(self._decision, target)
        if record is None:
            raise UploadGone
        row = await self.downloader.current_by_key(target.table_id, target.row_id, record.row_key)
        if row is None:
            raise UploadGone
        settled = await asyncio.to_thread(self.decisions.settled, record.row_key)
        slug = record.politician
        politician = self._politician(slug)
        tolerance, band = self._thresholds(slug)
        uploads: list[Picture] = []
        if record.reason in ANALYSED:
            for index, attachment in enumerate(row.attachments[:MAX_UPLOAD_PICTURES], start=1):
                label = f"Upload, image {index}" if len(row.attachments) > 1 else "Upload"
                try:
                    data = await self.downloader.fetch(target.table_id, row, attachment)
                except (AttachmentRefused, RowGone):
                    uploads.append(Picture(label, None, "NocoDB did not serve the picture."))
                    continue
                uploads.append(await asyncio.to_thread(self._thumbnail, label, data))
        return ReviewView(
            table_id=target.table_id,
            row_id=target.row_id,
            slug=slug,
            name=politician.profile.name if politician else None,
            decision=record.decision,
            reason=record.reason,
            detail=record.detail,
            decided_at=record.decided_at,
            settled_by_moderator=settled.decision
            if settled is not None and settled.source is Source.MODERATOR
            else None,
            distances=[face[slug] for face in record.distances if slug and slug in face],
            tolerance=tolerance,
            review_band=band,
            findings=findings(record.detail),
            uploads=uploads,
            references=await asyncio.to_thread(self._references, politician),
            expires_at=target.expires_at,
        )

    def _decision(self, target: LinkTarget) -> DecisionRecord | None:
        """facegate's own decision on the upload the link names."""
        for record in self.decisions.decisions(row_id=target.row_id, limit=500):
            if record.table_id == target.table_id and key_digest(record.row_key) == target.key_digest:
                return self.decisions.decision_for(record.row_key)
        return None

    def _politician(self, slug: str | None) -> Politician | None:
        if slug is None or not self.faces.ready:
            return None
        return self.faces.references.politicians.get(slug)

    def _thresholds(self, slug: str | None) -> tuple[float, float]:
        tolerance, band = self.faces.default_tolerance, self.faces.review_band
        if slug is None or not self.faces.ready:
            return tolerance, band
        references = self.faces.references
        return references.tolerances.get(slug, tolerance), references.review_bands.get(slug, band)

    def _references(self, politician: Politician | None) -> list[Picture]:
        if politician is None:
            return []
        pictures = []
        for photo in politician.photos[:MAX_REFERENCE_PICTURES]:
            try:
                data = photo.read_bytes()
            except OSError:
                pictures.append(Picture(f"Reference {photo.name}", None, "The photo cannot be read."))
                continue
            pictures.append(self._thumbnail(f"Reference {photo.name}", data))
        return pictures

    def _thumbnail(self, label: str, data: bytes) -> Picture:
        """A JPEG thumbnail, ``THUMBNAIL_SIDE`` px on its long side, decoded within the intake's
        limits (EXIF orientation applied, metadata dropped)."""
        try:
            image = decode(data, self.limits).image.copy()
        except ImageRejected as exc:
            return Picture(label, None, exc.message)
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY)
        return Picture(label, "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode())


def findings(detail: str | None) -> list[Finding]:
    """The explicit-content findings a decision's detail lists (``Found: LABEL (0.42), ...``)."""
    if not detail or not detail.startswith(FINDINGS_PREFIX):
        return []
    found = []
    for item in detail.removeprefix(FINDINGS_PREFIX).split(", "):
        label, _, score = item.partition(" (")
        found.append(Finding(label.strip(), score.rstrip(")").strip()))
    return found
