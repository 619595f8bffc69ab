"""``facegate serve``: the service under uvicorn, exactly as the image, ``make run`` and the test
harness run it. The flags are defined here once.

No access log: it would record every carousel visitor's address (``/metrics`` has the request
latencies). No proxy headers: uvicorn would otherwise take the client address from an
X-Forwarded-For that a client on the same host writes; facegate reads that header itself, and only
from ``FACEGATE_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

__all__ = ["APP", "DEFAULT_HOST", "DEFAULT_PORT", "SERVER_FLAGS", "serve", "server_command"]

APP = "app.main:app"
SERVER_FLAGS = ("--no-access-log", "--no-proxy-headers")
# In-flight requests get this long after SIGTERM; the moderation jobs have their own 20 s grace.
GRACEFUL_SHUTDOWN_SECONDS = 30
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def server_command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The uvicorn command line that serves facegate on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--host",
        host,
        "--port",
        str(port),
        "--timeout-graceful-shutdown",
        str(GRACEFUL_SHUTDOWN_SECONDS),
        *SERVER_FLAGS,
    ]


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> NoReturn:
    """Replace this process by uvicorn: signals (SIGTERM from docker stop) reach it directly."""
    command = server_command(host, port)
    os.execv(command[0], command)  # noqa: S606 - our own interpreter, a fixed argument list
