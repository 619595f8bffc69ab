from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from app.logs import JobFilter, JsonFormatter, current_job
from harness import ROOT
from harness.facegate import facegate_env, running_facegate


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


def test_importing_the_app_reads_no_settings_and_configures_no_logging() -> None:
    """``app.main`` is imported by tests and scripts with settings of their own: a broken environment
    only matters once ``app.main:app`` is asked for, as uvicorn does."""
    probe = (
        "import logging, app.main\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        "try:\n"
        "    app.main.app\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    env = {**os.environ, "FACEGATE_WORKERS": "not-a-number"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ValidationError"  # the settings are read when the app is built


def test_uvicorn_writes_to_the_same_json_stream(tmp_path: Path) -> None:
    """The server's own lines (start, stop) are JSON lines with facegate's fields, like the app's."""
    env = facegate_env(tmp_path, workers=1) | {"FACEGATE_SWEEP_INTERVAL_SECONDS": "0"}
    with running_facegate(tmp_path, env) as server:
        log_path = server.log_path
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers and any(name.startswith("app.") for name in loggers)
    messages = [line["message"] for line in lines if line["logger"] == "uvicorn.error"]
    assert any("Application startup complete" in m for m in messages)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
