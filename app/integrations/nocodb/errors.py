"""Errors of the NocoDB client, split by what the caller should do.

NocoDBError
├── NocoDBUnavailable   operational: unreachable, timeout, 5xx, 429; retry later
└── NocoDBRequestError  the request itself is refused (other 4xx); do not retry
    └── AttachmentRefused   an attachment that may not or cannot be fetched
"""

from __future__ import annotations

import httpx

MESSAGE_CHARS = 300


class NocoDBError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class NocoDBUnavailable(NocoDBError):
    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


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
