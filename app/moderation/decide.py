"""The decision on one row as NocoDB has it: its consent, the politician it names, its attachments
proved its own submission's uploads (``app.erasure.provenance``), and every image verified against
that politician. Shared by the moderation service and ``facegate backlog``'s
preview, which runs it without writing anything.

Only the uploader's doing is a rejection. What is facegate's or the operator's to fix raises
``Held`` instead (``app.moderation.holds``): references not loaded or empty, a configured column gone
from the table, a politician the form offers that ``reference_faces/`` lacks. The row then waits,
undecided and untouched, and each such problem is logged once as an error that says what to do.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from app.config import FieldNames
from app.erasure.files import StorageNotConfigured
from app.erasure.provenance import ForeignAttachment, Provenance, Submission
from app.faces.intake import ImageRejected, Limits, declared_pixels
from app.faces.renditions import Rendition
from app.faces.verdict import Verdict
from app.integrations.nocodb.errors import AttachmentRefused
from app.moderation.download import Downloader, RowGone
from app.moderation.holds import Held, columns_missing
from app.moderation.notes import ExplicitThresholds, verdict_note
from app.moderation.options import Offer, PoliticianColumn
from app.moderation.rows import UploadRow, require_columns, row_key
from app.outcomes import Decision, HoldReason, Reason
from app.politicians.references import ReferenceSet
from app.verification import FaceService

__all__ = ["RowDecider", "RowVerdict"]

# A cell's text in messages: a text column may hold anything, of any length.
SHOWN_CHARS = 80
# The attachments of a row proved its own (and so erased with it) at most: more than a form allows.
PROVED_AT_MOST = 20
RELOAD = "then POST /politicians/reload (or restart facegate)"
ADD_POLITICIAN = (
    "add the politician (facegate politicians add; --form-label when the form's text is not its name),"
    f" {RELOAD}"
)


@dataclass(frozen=True)
class RowVerdict:
    decision: Decision
    reason: Reason
    politician: str | None
    detail: str | None
    distances: list[dict[str, float]]
    # An approved row's carousel renditions, made by the face worker from its first image as verified.
    renditions: dict[Rendition, bytes] | None = field(default=None, repr=False)
    # facegate's line of the moderators' note (``app.moderation.notes``), for a verdict on pictures.
    note: str | None = None


class RowDecider:
    """Decides rows of one table: ``decide`` returns the verdict or raises ``Held``."""

    def __init__(
        self,
        *,
        faces: FaceService,
        downloader: Downloader,
        politicians: PoliticianColumn,
        fields: FieldNames,
        max_images: int,
        limits: Limits,
        provenance: Provenance,
    ) -> None:
        self.faces = faces
        self.downloader = downloader
        self.politicians = politicians
        self.fields = fields
        self.max_images = max_images
        self.limits = limits
        self.provenance = provenance

    async def decide(self, row: UploadRow, table_id: str) -> RowVerdict:
        """Every image must pass for the row to be approved; the first rejected image decides. A row
        without consent is rejected before its pictures are downloaded."""
        require_columns(row)
        # First of all, the row's own files are claimed: whatever comes next (a rejection before any
        # download, a hold, a moderator deleting the row meanwhile), they are erased with it.
        foreign: ForeignAttachment | None = None
        try:
            await self.prove_own(row, table_id)
        except ForeignAttachment as exc:
            foreign = exc
        if self.fields.consent and not row.consent:
            detail = f"The consent box {self.fields.consent!r} is not ticked."
            return RowVerdict(Decision.REJECTED, Reason.NO_CONSENT, self.named(row), detail, [])
        references = self._references()
        # The cell may hold a slug, a display name or a form label: decided against its slug.
        claimed = row.politician
        if claimed is not None:
            slug = references.resolve(claimed)
            if slug is None:
                return await self._names_nobody(claimed)
            claimed = slug
        if not row.attachments:
            return RowVerdict(Decision.REJECTED, Reason.NO_IMAGE, claimed, None, [])
        if len(row.attachments) > self.max_images:
            detail = f"The row has {len(row.attachments)} images; at most {self.max_images} are moderated."
            return RowVerdict(Decision.REJECTED, Reason.TOO_MANY_IMAGES, claimed, detail, [])
        if foreign is not None:  # before any download: a file the row did not upload is not looked at
            return RowVerdict(Decision.REJECTED, Reason.FOREIGN_ATTACHMENT, claimed, foreign.detail, [])
        return await self._verify_images(row, table_id, claimed)

    async def prove_own(self, row: UploadRow, table_id: str) -> None:
        """Claim the row's attachments as its own submission's uploads, or raise ``ForeignAttachment``
        (``app.erasure.provenance``); ``Held`` without any storage to prove them in. Up to
        ``PROVED_AT_MOST`` are looked at (a row of too many images has its files erased too; a
        forged cell of a thousand costs no more)."""
        key = row_key(table_id, row)
        attachments = row.attachments[: max(self.max_images, PROVED_AT_MOST)]
        try:
            await self.provenance.prove(Submission(table_id, key, row.row_id, row.created_at, attachments))
        except StorageNotConfigured as exc:
            raise Held(HoldReason.STORAGE_NOT_CONFIGURED, str(exc)) from exc

    def named(self, row: UploadRow) -> str | None:
        """The slug of the politician the row names, None when it names none facegate knows: the
        decision log keeps slugs, not what an uploader typed (the detail quotes it, cut short)."""
        if row.politician is None or not self.faces.ready:
            return None
        return self.faces.references.resolve(row.politician)

    def _references(self) -> ReferenceSet:
        if not self.faces.ready:
            why = self.faces.load_error or "not loaded yet"
            detail = f"The reference faces are not loaded ({why}): fix reference_faces/, {RELOAD}."
            raise Held(HoldReason.REFERENCES_NOT_LOADED, detail)
        references = self.faces.references
        if not references.politicians:
            detail = f"reference_faces/ holds no politician: add them, {RELOAD}."
            raise Held(HoldReason.REFERENCES_EMPTY, detail)
        return references

    async def _names_nobody(self, cell: str) -> RowVerdict:
        """A cell that names no politician facegate knows: held when the form offers it (the
        operator has a politician to add), rejected when it does not (a stale or forged value)."""
        shown, column = cell[:SHOWN_CHARS], self.politicians.title
        offer = await self.politicians.offers(cell)
        if offer is Offer.NOT_OFFERED:
            detail = f"Unknown politician {shown!r}, which the form does not offer."
            return RowVerdict(Decision.REJECTED, Reason.UNKNOWN_POLITICIAN, None, detail, [])
        if offer is Offer.NO_COLUMN:
            raise columns_missing((column,))
        if offer is Offer.OPTION:
            detail = f"Option {shown!r} of {column!r} names no politician facegate knows: {ADD_POLITICIAN}."
            raise Held(HoldReason.UNKNOWN_OPTION, detail)
        detail = f"{shown!r}, typed into {column!r}, names no politician facegate knows: {ADD_POLITICIAN}."
        raise Held(HoldReason.UNKNOWN_NAME, detail)

    async def _verify_images(self, row: UploadRow, table_id: str, claimed: str | None) -> RowVerdict:
        distances: list[dict[str, float]] = []
        identified: set[str | None] = set()
        review: tuple[Reason, str | None, str] | None = None
        renditions: dict[Rendition, bytes] | None = None
        approved_note: str | None = None
        pixels, images = 0, len(row.attachments)
        for index, attachment in enumerate(row.attachments):
            try:
                data = await self.downloader.fetch(table_id, row, attachment)
            except AttachmentRefused as exc:
                return RowVerdict(Decision.REJECTED, Reason.UNREADABLE_IMAGE, claimed, exc.message, distances)
            except RowGone:
                detail = "The row was deleted before it was decided."
                return RowVerdict(Decision.REJECTED, Reason.ROW_GONE, claimed, detail, [])
            # One row may not hold the workers longer than one very large picture would.
            with contextlib.suppress(ImageRejected):  # the face check says why, in its own words
                pixels += declared_pixels(data, self.limits)
            if pixels > self.limits.max_pixels:
                detail = f"The row's images have more than {self.limits.max_pixels} pixels in all."
                return RowVerdict(Decision.REJECTED, Reason.TOO_MANY_IMAGES, claimed, detail, distances)
            # An approved row shows its first image: the face worker renders it from what it decoded.
            checked = await self.faces.verify_image(data, claimed, renditions=index == 0)
            verdict, problem = checked.verdict, checked.problem
            note = self._note(verdict, index + 1, images)
            # Several faces were not compared with anyone: no distances to log for them.
            distances.extend(face.distances for face in verdict.faces if face.distances)
            if verdict.explicit:
                problem = "Found: " + ", ".join(f"{f.label} ({f.score:.2f})" for f in verdict.explicit)
            if verdict.decision is Decision.REJECTED:
                # A rejected upload's bytes are not kept a moment longer than needed.
                return RowVerdict(
                    verdict.decision, verdict.reason, verdict.politician, problem, distances, note=note
                )
            identified.add(verdict.politician)
            if verdict.decision is Decision.REVIEW:
                review = review or (verdict.reason, problem, note)
            if index == 0:
                renditions, approved_note = checked.renditions, note
        if len(identified) != 1:
            # Without a claim, every image must show the same politician.
            detail = "The images show different politicians."
            return RowVerdict(Decision.REJECTED, Reason.NO_MATCH, claimed, detail, distances)
        if review is not None:
            # A moderator approves it in NocoDB; its renditions are made then, from what they saw.
            reason, problem, note = review
            return RowVerdict(Decision.REVIEW, reason, identified.pop(), problem, distances, note=note)
        return RowVerdict(
            Decision.APPROVED, Reason.MATCH, identified.pop(), None, distances, renditions, approved_note
        )

    def _note(self, verdict: Verdict, image: int, images: int) -> str:
        """facegate's line of the note for the image that decides the row."""
        politician = self.faces.references.politicians.get(verdict.politician or "")
        gate = self.faces.gate
        return verdict_note(
            verdict,
            politician=politician.profile.name if politician is not None else None,
            explicit=ExplicitThresholds(review=gate.review_score, reject=gate.min_score),
            image=image,
            images=images,
        )
