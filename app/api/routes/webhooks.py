from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import ValidationError

from app.api.deps import ModerationDep, SettingsDep, secret_matches
from app.errors import ErrorResponse, InvalidRequest, Unauthorized
from app.moderation.webhook import (
    INSERT_EVENT,
    EventEnvelope,
    InsertEvent,
    WebhookAck,
    jobs_from_event,
)

router = APIRouter(tags=["moderation"])

INLINE_ENQUEUE_MAX_ROWS = 20


def openapi_schemas() -> dict[str, object]:
    """The webhook body's schemas, for the OpenAPI components (the route parses the body itself)."""
    schema = InsertEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"InsertEvent": schema, **defs}


async def require_webhook_secret(
    settings: SettingsDep,
    x_facegate_secret: Annotated[
        str | None, Header(description="The secret set in the NocoDB webhook.")
    ] = None,
) -> None:
    """Constant-time check of the shared secret.

    An unset secret refuses everything: an empty secret verifies against an empty key, which anyone can forge.
    """
    secret = settings.webhook_secret
    if secret is None:
        raise Unauthorized("The webhook is disabled: FACEGATE_WEBHOOK_SECRET is not set.")
    if not secret_matches(x_facegate_secret, secret.get_secret_value()):
        raise Unauthorized("A valid X-Facegate-Secret header is required.")


def _validation_detail(exc: ValidationError) -> list[dict[str, object]]:
    # The body is not echoed back: it may be large, and it is the uploader's data.
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()[:20]]


@router.post(
    "/webhooks/nocodb",
    status_code=202,
    dependencies=[Depends(require_webhook_secret)],
    responses={
        200: {"model": WebhookAck, "description": "Another event type: acknowledged and ignored."},
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InsertEvent"}}},
        }
    },
)
async def nocodb_webhook(
    request: Request, response: Response, moderation: ModerationDep, settings: SettingsDep
) -> WebhookAck:
    """NocoDB's after-insert webhook: one job per row, committed to the queue before the 202."""
    body = await request.body()
    try:
        envelope = EventEnvelope.model_validate_json(body)
        if envelope.type != INSERT_EVENT:
            response.status_code = 200
            return WebhookAck(event=envelope.type, received=0, queued=0, ignored=0)
        event = InsertEvent.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(
            "The webhook body is not a NocoDB v3 event.", detail=_validation_detail(exc)
        ) from exc
    jobs, ignored = jobs_from_event(event, table_id=moderation.table_id, fields=moderation.fields)
    if len(jobs) <= INLINE_ENQUEUE_MAX_ROWS:
        # A form submission's one row commits in a tenth of a millisecond: a thread hop costs more.
        queued = moderation.store.enqueue(jobs, source="webhook") if jobs else 0
    else:
        queued = await asyncio.to_thread(moderation.store.enqueue, jobs, source="webhook")
    moderation.wake()
    return WebhookAck(event=event.type, received=len(event.data.rows), queued=queued, ignored=ignored)
