"""The NocoDB webhook: its payload (v3, ``{{ json event }}`` body). An insert or an update becomes
queued jobs (an update only when the row is a new upload: its attachments changed); a delete is a
nudge to the uploads' lifecycle, which asks NocoDB whether the uploads it names are really gone
before it withdraws them and erases their files. The event's copy of a row only names it:
moderation reads the row from NocoDB."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.config import FieldNames
from app.errors import InvalidRequest
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.queue import JobQueue, NewJob
from app.moderation.rows import UploadRow, new_job, parse_row

__all__ = [
    "DELETE_EVENT",
    "EVENTS",
    "INSERT_EVENT",
    "UPDATE_EVENT",
    "RowsEvent",
    "WebhookAck",
    "WebhookReceiver",
    "jobs_from_event",
]

log = logging.getLogger(__name__)

INSERT_EVENT = "records.after.insert"
UPDATE_EVENT = "records.after.update"
DELETE_EVENT = "records.after.delete"
EVENTS = frozenset({INSERT_EVENT, UPDATE_EVENT, DELETE_EVENT})
MAX_ROWS = 100_000


class EventEnvelope(BaseModel):
    """Every NocoDB event: only its type is needed to decide whether to read further."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=200)


class RowsData(BaseModel):
    model_config = ConfigDict(extra="allow")
    table_id: str = Field(min_length=1, max_length=200)
    table_name: str | None = None
    rows: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


class RowsEvent(BaseModel):
    """``records.after.insert``, ``.update`` or ``.delete``: one event for one form submission, one
    edit, one deletion, or one bulk operation; the rows are complete (attachments included)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["records.after.insert", "records.after.update", "records.after.delete"]
    id: str | None = None
    version: str | None = None
    data: RowsData


class WebhookAck(BaseModel):
    event: str
    received: int = Field(description="Rows in the event.")
    queued: int = Field(
        description="Rows queued now (not seen before); for a deletion, rows whose erasure was scheduled."
    )
    ignored: int = Field(description="Rows of another table, or without a valid Id.")


def rows_of_event(
    event: RowsEvent, *, table_id: str | None, fields: FieldNames
) -> tuple[list[UploadRow], int]:
    """The event's rows as facegate reads them, and how many were ignored."""
    if table_id is not None and event.data.table_id != table_id:
        log.warning("webhook for table %s ignored: facegate moderates %s", event.data.table_id, table_id)
        return [], len(event.data.rows)
    rows, ignored = [], 0
    for raw in event.data.rows:
        try:
            rows.append(parse_row(raw, fields))
        except ValueError:
            ignored += 1
    return rows, ignored


def jobs_from_event(
    event: RowsEvent, *, table_id: str | None, fields: FieldNames
) -> tuple[list[NewJob], int]:
    """The jobs of an insert event, and how many rows were ignored."""
    rows, ignored = rows_of_event(event, table_id=table_id, fields=fields)
    return [new_job(event.data.table_id, row) for row in rows], ignored


class WebhookReceiver:
    """Turns a webhook body into queued jobs, committed before the caller answers NocoDB, or into a
    check of the rows a delete event names. An insert event also sets ``inserted``: NocoDB's event
    may name another row than the one inserted, and the sweeper then lists the newest rows
    (``app.moderation.sweep``)."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        table_id: str | None,
        fields: FieldNames,
        wake: asyncio.Event,
        inserted: asyncio.Event,
        lifecycle: UploadLifecycle,
    ) -> None:
        self.queue = queue
        self.table_id = table_id
        self.fields = fields
        self.wake = wake
        self.inserted = inserted
        self.lifecycle = lifecycle

    async def receive(self, body: bytes) -> WebhookAck:
        """Queue the rows of an insert or update event, erase those of a delete event; other event
        types are acknowledged and ignored."""
        try:
            envelope = EventEnvelope.model_validate_json(body)
            if envelope.type not in EVENTS:
                return WebhookAck(event=envelope.type, received=0, queued=0, ignored=0)
            event = RowsEvent.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidRequest(
                "The webhook body is not a NocoDB v3 event.", detail=_validation_detail(exc)
            ) from exc
        if event.type == DELETE_EVENT:
            return await self._deleted(event)
        jobs, ignored = jobs_from_event(event, table_id=self.table_id, fields=self.fields)
        updated = event.type == UPDATE_EVENT
        # In a thread: a commit to PostgreSQL is a network round trip, never for the event loop to wait on.
        queued = await asyncio.to_thread(self._queue, jobs, updated=updated) if jobs else 0
        self.wake.set()
        if event.type == INSERT_EVENT and event.data.table_id == self.table_id:
            self.inserted.set()
        return WebhookAck(event=event.type, received=len(event.data.rows), queued=queued, ignored=ignored)

    def _queue(self, jobs: list[NewJob], *, updated: bool) -> int:
        """New uploads are queued; an update of a decided row queues it again, for the moderation loop
        to read its Status from NocoDB (a moderator may have decided it; the event's copy proves nothing)."""
        queued = self.queue.enqueue(jobs, source="webhook")
        if updated:
            queued += self.queue.recheck([j.row_key for j in jobs])
        return queued

    async def _deleted(self, event: RowsEvent) -> WebhookAck:
        """Rows reported deleted in NocoDB (by a moderator, by facegate itself, or so a forger says):
        their lifecycle checks with NocoDB and says what follows (off the carousel, files erased)."""
        rows, ignored = rows_of_event(event, table_id=self.table_id, fields=self.fields)
        scheduled = await self.lifecycle.deleted_in_nocodb(event.data.table_id, rows)
        return WebhookAck(event=event.type, received=len(event.data.rows), queued=scheduled, ignored=ignored)


def _validation_detail(exc: ValidationError) -> list[dict[str, object]]:
    # The body is not echoed back: it may be large, and it is the uploader's data.
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()[:20]]
