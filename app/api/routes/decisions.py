from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import ModerationDep, OperatorDep
from app.api.schemas import DecisionOut, DecisionPage, JobOut, JobPage
from app.errors import ErrorResponse, NotFound
from app.moderation.rows import MAX_ROW_ID
from app.moderation.store import JobState

router = APIRouter(tags=["moderation"], dependencies=[OperatorDep], responses={401: {"model": ErrorResponse}})


@router.get("/decisions")
async def list_decisions(
    moderation: ModerationDep,
    row_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    decision: Annotated[str | None, Query(pattern="^(approved|rejected)$")] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="next_cursor of the previous page")
    ] = None,
) -> DecisionPage:
    """The decision log, newest first (operator)."""
    records = await asyncio.to_thread(
        moderation.store.decisions,
        row_id=row_id,
        decision=decision,
        reason=reason,
        limit=limit,
        before_id=cursor,
    )
    items = [DecisionOut.from_record(r) for r in records]
    return DecisionPage(items=items, next_cursor=records[-1].id if len(records) == limit else None)


@router.post("/jobs/{job_id}/retry", responses={404: {"model": ErrorResponse}})
async def retry_job(moderation: ModerationDep, job_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]) -> JobOut:
    """Queue a failed job again, once its cause is fixed (operator)."""
    job = await asyncio.to_thread(moderation.store.retry_failed, job_id)
    if job is None:
        raise NotFound(f"No failed job {job_id}.")
    moderation.wake()
    return JobOut.from_job(job)


@router.get("/jobs")
async def list_jobs(
    moderation: ModerationDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> JobPage:
    """The moderation queue, newest first, with the errors of failed jobs (operator)."""
    jobs = await asyncio.to_thread(moderation.store.jobs, state=state, limit=limit, before_id=cursor)
    counts = await asyncio.to_thread(moderation.store.counts)
    return JobPage(
        items=[JobOut.from_job(j) for j in jobs],
        counts=counts,
        next_cursor=jobs[-1].id if len(jobs) == limit else None,
    )
