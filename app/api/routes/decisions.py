from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from app.api.deps import OPERATOR_ERRORS, OperatorDep, RuntimeDep
from app.api.schemas import DecisionOut, DecisionPage, JobOut, JobPage
from app.db import MAX_ID
from app.errors import ErrorResponse, NotFound
from app.moderation.queue import JobState
from app.outcomes import Decision, Reason

router = APIRouter(tags=["moderation"], dependencies=[OperatorDep], responses=OPERATOR_ERRORS)

IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
CursorQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")]


@router.get("/decisions")
async def list_decisions(
    runtime: RuntimeDep,
    row_id: IdQuery = None,
    decision: Decision | None = None,
    reason: Reason | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorQuery = None,
) -> DecisionPage:
    """The decision log, newest first, with the erasure of each removed upload's files (operator)."""
    records = await asyncio.to_thread(
        runtime.decisions.decisions,
        row_id=row_id,
        decision=decision,
        reason=reason,
        limit=limit,
        before_id=cursor,
    )
    purges = await asyncio.to_thread(runtime.purges.for_rows, [r.row_key for r in records])
    items = [DecisionOut.from_record(r, purges.get(r.row_key)) for r in records]
    return DecisionPage(items=items, next_cursor=records[-1].id if len(records) == limit else None)


@router.post("/jobs/{job_id}/retry", responses={404: {"model": ErrorResponse}})
async def retry_job(
    request: Request, runtime: RuntimeDep, job_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> JobOut:
    """Queue a failed job again, once its cause is fixed (operator)."""
    job = await asyncio.to_thread(runtime.queue.retry_failed, job_id)
    if job is None:
        raise NotFound(f"No failed job {job_id}.")
    runtime.wake.set()
    return JobOut.from_job(job, request.app.state.private_roots)


@router.get("/jobs")
async def list_jobs(
    request: Request,
    runtime: RuntimeDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorQuery = None,
) -> JobPage:
    """The moderation queue, newest first: why failed jobs failed, why held jobs wait (operator)."""
    jobs = await asyncio.to_thread(runtime.queue.jobs, state=state, limit=limit, before_id=cursor)
    counts = await asyncio.to_thread(runtime.queue.counts)
    return JobPage(
        items=[JobOut.from_job(j, request.app.state.private_roots) for j in jobs],
        counts=counts,
        next_cursor=jobs[-1].id if len(jobs) == limit else None,
    )
