"""Logging: JSON lines (or plain text for a terminal), each carrying the job being worked on.

The job id is a context variable set by the queue runner, so every line logged while a job runs,
in the NocoDB client, the face service or the moderation service, names it without passing it on.
Nothing here logs image bytes or secrets: messages carry ids, reasons and error texts only.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

current_job: ContextVar[int | None] = ContextVar("current_job", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JobFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = current_job.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _RESERVED and v is not None}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# uvicorn's loggers: under uvicorn they carry handlers of their own, set up before the app is built.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure(log_format: str, level: str = "INFO") -> None:
    """Set up facegate's logging once, and make uvicorn's lines part of the same stream."""
    _adopt_uvicorn_loggers()
    root = logging.getLogger()
    if any(getattr(h, "_facegate", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._facegate = True  # type: ignore[attr-defined]
    handler.addFilter(JobFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [job %(job_id)s]: %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every URL, signed links included


def _adopt_uvicorn_loggers() -> None:
    """uvicorn configures its loggers with handlers and formats of its own before it loads the app;
    their lines go to facegate's handler instead, so the service writes one stream of JSON lines."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
