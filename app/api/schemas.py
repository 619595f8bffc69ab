"""Response bodies of the HTTP API (the verdict's is ``app.api.verify_schemas.Verdict``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from app.erasure.store import PurgeRecord, PurgeState, PurgeTrigger
from app.errors import hide_paths
from app.moderation.decisions import DecisionRecord
from app.moderation.queue import Job, JobState
from app.outcomes import Action, Decision, HoldReason, Reason, Source
from app.politicians.profiles import Politician
from app.politicians.references import ReferenceSet


class PoliticianProfile(BaseModel):
    slug: str
    name: str
    role: str = Field(description="Official role.")
    country: str
    description: str

    @classmethod
    def of(cls, slug: str, politician: Politician | None) -> PoliticianProfile:
        """The public profile; a slug no longer in ``reference_faces/`` shows as its bare slug."""
        if politician is None:
            return cls(slug=slug, name=slug, role="", country="", description="")
        p = politician.profile
        return cls(slug=slug, name=p.name, role=p.role, country=p.country, description=p.description)


class PoliticianOut(PoliticianProfile):
    reference_photos: int

    @classmethod
    def all(cls, references: ReferenceSet) -> list[PoliticianOut]:
        return [
            cls(
                **PoliticianProfile.of(slug, politician).model_dump(),
                reference_photos=references.matrix.count(slug),
            )
            for slug, politician in references.politicians.items()
        ]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    politicians: int
    reference_photos: int


class PurgeOut(BaseModel):
    state: PurgeState = Field(
        description="done; pending (retried by `facegate purge`); refused; kept (the row is still in"
        " NocoDB: erased when it leaves)."
    )
    files: int = Field(description="Files erased so far: the uploads and their thumbnails.")
    bytes: int
    detail: str | None = Field(
        description="Why not (yet): storage not configured, a refused location, the row still in NocoDB,"
        " files that were not this upload's own or that another of the operator's rows uses."
    )
    trigger: PurgeTrigger = Field(description="How the row left NocoDB.")
    updated_at: datetime

    @classmethod
    def from_record(cls, record: PurgeRecord) -> PurgeOut:
        return cls(
            state=record.state,
            files=record.files,
            bytes=record.bytes,
            detail=record.detail,
            trigger=record.trigger,
            updated_at=epoch_to_datetime(record.updated_at),
        )


class DecisionOut(BaseModel):
    id: int
    row_key: str = Field(description="One upload: NocoDB reuses row Ids, so the key adds time and files.")
    table_id: str
    row_id: int
    politician: str | None
    decision: Decision
    reason: Reason
    source: Source = Field(
        description="facegate's rule, or a moderator who set the row's Status in NocoDB (final)."
    )
    restored: bool = Field(
        description="facegate's earlier decision, read back from the row's stamp in NocoDB when the log"
        " was rebuilt (no detail or distances); false for a decision made and logged here."
    )
    detail: str | None
    distances: list[dict[str, float]] = Field(
        description="Per face of each image: distance to each politician."
    )
    action: Action | None = Field(
        description="What was done in NocoDB: approved, deleted, flagged, already_gone..."
    )
    decided_at: datetime
    acted_at: datetime | None
    purge: PurgeOut | None = Field(
        description="The erasure of the upload's files from NocoDB's storage; null when none was due."
    )

    @classmethod
    def from_record(cls, record: DecisionRecord, purge: PurgeRecord | None) -> DecisionOut:
        return cls(
            id=record.id,
            row_key=record.row_key,
            table_id=record.table_id,
            row_id=record.row_id,
            politician=record.politician,
            decision=record.decision,
            reason=record.reason,
            source=record.source,
            restored=record.restored,
            detail=record.detail,
            distances=record.distances,
            action=record.action,
            decided_at=epoch_to_datetime(record.decided_at),
            acted_at=epoch_to_datetime(record.acted_at) if record.acted_at is not None else None,
            purge=PurgeOut.from_record(purge) if purge is not None else None,
        )


class DecisionPage(BaseModel):
    items: list[DecisionOut]
    next_cursor: int | None


class JobOut(BaseModel):
    id: int
    row_key: str
    table_id: str
    row_id: int
    source: str
    state: JobState
    attempts: int
    last_error: str | None = Field(description="Why a failed or retried job failed; why a held job waits.")
    held_reason: HoldReason | None = Field(
        description="Why a held job (state `held`) waits, undecided and untouched in NocoDB."
    )
    held_since: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_job(cls, job: Job, private_roots: Sequence[Path] = ()) -> JobOut:
        """``private_roots``: folders whose absolute paths ``last_error`` shows from their name on
        (an error's text may name a file of the server's disk)."""
        return cls(
            id=job.id,
            row_key=job.row_key,
            table_id=job.table_id,
            row_id=job.row_id,
            source=job.source,
            state=job.state,
            attempts=job.attempts,
            last_error=hide_paths(job.last_error, private_roots),
            held_reason=job.held_reason,
            held_since=epoch_to_datetime(job.held_since) if job.held_since is not None else None,
            created_at=epoch_to_datetime(job.created_at),
            updated_at=epoch_to_datetime(job.updated_at),
        )


class JobPage(BaseModel):
    items: list[JobOut]
    counts: dict[str, int]
    next_cursor: int | None


def epoch_to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class ApprovedItem(BaseModel):
    id: int
    politician: PoliticianProfile
    image_url: str = Field(description="A JPEG served by facegate (long side at most 1600 px).")
    thumbnail_url: str = Field(description="A carousel-size JPEG served by facegate (at most 480 px).")
    approved_at: datetime


class ApprovedPage(BaseModel):
    items: list[ApprovedItem]
    next_cursor: int | None = Field(
        description="Pass as `cursor` for the next (older) page; null at the end."
    )


class Site(BaseModel):
    form_url: str | None = Field(description="The public upload form, for the page's call to action.")
