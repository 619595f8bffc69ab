"""Errors of the NocoDB clients (records and meta), split by what the caller should do.

NocoDBError
├── NocoDBUnavailable       operational: retry later (the job queue does; an operator reruns a command)
│   ├── NocoDBUnreachable   no answer: the connection failed or timed out
│   └── NocoDBTokenRefused  401 or 403: a rotated or revoked token, until an operator fixes it
└── NocoDBRequestError      the request itself is refused (other 4xx); do not retry
    └── AttachmentRefused   an attachment that may not or cannot be fetched

An outage that answers (5xx, 429, the HTML 404 of a NocoDB still starting, a body that is not JSON) is
a plain ``NocoDBUnavailable``.
"""

from __future__ import annotations

import httpx

__all__ = [
    "MESSAGE_CHARS",
    "AttachmentRefused",
    "NocoDBError",
    "NocoDBRequestError",
    "NocoDBTokenRefused",
    "NocoDBUnavailable",
    "NocoDBUnreachable",
    "nocodb_message",
]

MESSAGE_CHARS = 300


class NocoDBError(Exception):
    """``status_code`` is NocoDB's HTTP status, None when it gave no answer."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        # NocoDB's error code (``ERR_RECORD_NOT_FOUND``, ``ERR_TABLE_NOT_FOUND``), when it gave one.
        self.code = code


class NocoDBUnavailable(NocoDBError):
    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class NocoDBUnreachable(NocoDBUnavailable):
    """No answer at all; the transport's exception is the ``__cause__``."""


class NocoDBTokenRefused(NocoDBUnavailable):
    """NocoDB refused the credentials: operational for the queue (nothing is decided meanwhile), final
    for a command. Never retried at once: the same token is refused again."""


class NocoDBRequestError(NocoDBError):
    pass


class AttachmentRefused(NocoDBRequestError):
    """The attachment's location is not allowed (SSRF guard), it is too large, or it is gone."""


def nocodb_message(response: httpx.Response) -> str:
    """NocoDB's error text: it answers ``{"msg": ...}`` or ``{"error": ..., "message": ...}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MESSAGE_CHARS]
    if isinstance(body, dict):
        for key in ("msg", "message", "error"):
            if body.get(key):
                return str(body[key])[:MESSAGE_CHARS]
    return response.text[:MESSAGE_CHARS]
