from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import OPERATOR_ERRORS, MetricsDep, RuntimeDep

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    dependencies=[MetricsDep],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        **OPERATOR_ERRORS,
    },
)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: verdicts, queue depth and age, NocoDB errors, latencies.

    For a scraper with `Authorization: Bearer <FACEGATE_METRICS_TOKEN>`, the operator's `X-API-Key`,
    or anyone when `FACEGATE_METRICS_PUBLIC=true`."""
    body = await asyncio.to_thread(runtime.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
