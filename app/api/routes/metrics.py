from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import OperatorDep, RuntimeDep
from app.errors import ErrorResponse

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
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics (operator): verdicts, queue depth and age, NocoDB errors, latencies."""
    body = await asyncio.to_thread(runtime.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
