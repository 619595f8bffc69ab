"""The NocoDB webhook: its payload (v3, ``{{ json event }}`` body) and how it becomes queued jobs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.config import FieldNames
from app.errors import InvalidRequest
from app.moderation.queue import JobQueue, NewJob
from app.moderation.rows import new_job, parse_row

__all__ = ["INSERT_EVENT", "InsertEvent", "WebhookAck", "WebhookReceiver", "jobs_from_event"]

log = logging.getLogger(__name__)

INSERT_EVENT = "records.after.insert"
MAX_ROWS = 100_000
# A form submission's one row commits in a tenth of a millisecond: a thread hop costs more.
INLINE_ENQUEUE_MAX_ROWS = 20


class EventEnvelope(BaseModel):
    """Every NocoDB event: only its type is needed to decide whether to read further."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=200)


class InsertData(BaseModel):
    model_config = ConfigDict(extra="allow")
    table_id: str = Field(min_length=1, max_length=200)
    table_name: str | None = None
    rows: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


class InsertEvent(BaseModel):
    """``records.after.insert``: one event for one form submission or one bulk insert."""

    model_config = ConfigDict(extra="allow")
    type: Literal["records.after.insert"]
    id: str | None = None
    version: str | None = None
    data: InsertData


class WebhookAck(BaseModel):
    event: str
    received: int = Field(description="Rows in the event.")
    queued: int = Field(description="Rows queued now (not seen before).")
    ignored: int = Field(description="Rows of another table, or without a valid Id.")


def jobs_from_event(
    event: InsertEvent, *, table_id: str | None, fields: FieldNames
) -> tuple[list[NewJob], int]:
    """The jobs of an insert event, and how many rows were ignored."""
    if table_id is not None and event.data.table_id != table_id:
        log.warning("webhook for table %s ignored: facegate moderates %s", event.data.table_id, table_id)
        return [], len(event.data.rows)
    jobs, ignored = [], 0
    for raw in event.data.rows:
        try:
            jobs.append(new_job(event.data.table_id, parse_row(raw, fields)))
        except ValueError:
            ignored += 1
    return jobs, ignored


class WebhookReceiver:
    """Turns a webhook body into queued jobs, committed before the caller answers NocoDB."""

    def __init__(
        self, *, queue: JobQueue, table_id: str | None, fields: FieldNames, wake: asyncio.Event
    ) -> None:
        self.queue = queue
        self.table_id = table_id
        self.fields = fields
        self.wake = wake

    async def receive(self, body: bytes) -> WebhookAck:
        """Queue the rows of an insert event; other event types are acknowledged and ignored."""
        try:
            envelope = EventEnvelope.model_validate_json(body)
            if envelope.type != INSERT_EVENT:
                return WebhookAck(event=envelope.type, received=0, queued=0, ignored=0)
            event = InsertEvent.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidRequest(
                "The webhook body is not a NocoDB v3 event.", detail=_validation_detail(exc)
            ) from exc
        jobs, ignored = jobs_from_event(event, table_id=self.table_id, fields=self.fields)
        if len(jobs) <= INLINE_ENQUEUE_MAX_ROWS:
            queued = self.queue.enqueue(jobs, source="webhook") if jobs else 0
        else:
            queued = await asyncio.to_thread(self.queue.enqueue, jobs, source="webhook")
        self.wake.set()
        return WebhookAck(event=event.type, received=len(event.data.rows), queued=queued, ignored=ignored)


def _validation_detail(exc: ValidationError) -> list[dict[str, object]]:
    # The body is not echoed back: it may be large, and it is the uploader's data.
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()[:20]]
