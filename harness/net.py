"""Loopback networking for the harness: every server it starts listens on ``HOST``."""

from __future__ import annotations

import socket

__all__ = ["HOST", "free_port"]

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that is free on ``HOST`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port
