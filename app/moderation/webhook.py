"""The NocoDB webhook: its payload (v3, ``{{ json event }}`` body) and how it becomes queued jobs."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.moderation.rows import FieldNames, new_job, parse_row
from app.moderation.store import NewJob

log = logging.getLogger(__name__)

INSERT_EVENT = "records.after.insert"
MAX_ROWS = 100_000


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
