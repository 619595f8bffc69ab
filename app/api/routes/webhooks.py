from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.deps import RuntimeDep, WebhookSecretDep
from app.errors import ErrorResponse
from app.moderation.webhook import EVENTS, RowsEvent, WebhookAck

router = APIRouter(tags=["moderation"])


def openapi_schemas() -> dict[str, object]:
    """The webhook body's schemas, for the OpenAPI components (the route parses the body itself)."""
    schema = RowsEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"RowsEvent": schema, **defs}


@router.post(
    "/webhooks/nocodb",
    status_code=202,
    dependencies=[WebhookSecretDep],
    responses={
        200: {"model": WebhookAck, "description": "Another event type: acknowledged and ignored."},
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RowsEvent"}}},
        }
    },
)
async def nocodb_webhook(request: Request, response: Response, runtime: RuntimeDep) -> WebhookAck:
    """NocoDB's after-insert, after-update and after-delete webhook: an inserted row, or an updated
    one whose attachments changed, is queued for moderation; a deleted row's files are scheduled for
    erasure; either is committed before the 202."""
    ack = await runtime.webhooks.receive(await request.body())
    if ack.event not in EVENTS:
        response.status_code = 200
    return ack
