from __future__ import annotations

import json
import logging

from app.logs import JobFilter, JsonFormatter, current_job


def _line(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    JobFilter().filter(record)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_json_lines_carry_the_current_job() -> None:
    token = current_job.set(42)
    try:
        line = _line("row %d decided", 7)
    finally:
        current_job.reset(token)
    assert line["message"] == "row 7 decided" and line["job_id"] == 42
    assert line["level"] == "info" and line["logger"] == "app.test" and "time" in line
    assert "job_id" not in _line("outside a job")  # no job: the key is left out


def test_extra_fields_are_kept() -> None:
    assert _line("x", row_id=3)["row_id"] == 3
