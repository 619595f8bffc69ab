from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import ModerationDep, OperatorDep
from app.errors import ErrorResponse
from app.metrics import exposition

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    dependencies=[OperatorDep],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        401: {"model": ErrorResponse},
    },
)
async def metrics(moderation: ModerationDep) -> Response:
    """Prometheus metrics (operator): verdicts, queue depth and age, NocoDB errors, latencies."""
    body = await asyncio.to_thread(exposition, moderation.store)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
