"""How facegate calls NocoDB, for the records client and the meta client alike: one
``httpx.AsyncClient`` over an injectable transport (``httpx.MockTransport`` in unit tests), NocoDB's
answers translated into the ``NocoDBError`` family, and one retry rule.

Reads are retried a bounded number of times on the operational errors (no answer, 5xx, 429 honouring
``Retry-After``, the HTML 404 of a NocoDB still starting); what still fails is raised as
``NocoDBUnavailable``. Writes are sent once: a DELETE whose answer timed out may have happened, and by
the time of a retry NocoDB may have given its Id to a new upload. Whoever wrote retries the whole step,
which looks first: the job queue reads the row back, bootstrap lists what the table already has.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import httpx

from app.integrations.nocodb.errors import (
    MESSAGE_CHARS,
    NocoDBError,
    NocoDBRequestError,
    NocoDBTokenRefused,
    NocoDBUnavailable,
    NocoDBUnreachable,
    nocodb_message,
)

__all__ = [
    "BACKOFF_SECONDS",
    "MAX_ATTEMPTS",
    "MAX_RETRY_AFTER_SECONDS",
    "RETRIED_METHODS",
    "RETRY_STATUS_CODES",
    "TOKEN_HEADER",
    "NocoDBHttp",
    "retry_after",
]

TOKEN_HEADER: Final = "xc-token"  # noqa: S105 - the name of a header, not a secret
RETRIED_METHODS: Final = frozenset({"GET"})
RETRY_STATUS_CODES: Final = frozenset({429, 500, 502, 503, 504})
AUTH_STATUS_CODES: Final = frozenset({401, 403})
MAX_ATTEMPTS: Final = 3
BACKOFF_SECONDS: Final = (0.5, 1.5)
MAX_RETRY_AFTER_SECONDS: Final = 10.0


class NocoDBHttp:
    """One NocoDB instance at ``base_url``; paths are relative to it (``api/v2/...``), so a NocoDB
    served under a path prefix works too."""

    def __init__(
        self, *, base_url: str, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    def authenticate(self, header: str, value: str) -> None:
        """Send ``header: value`` with every later call, in place of any earlier credential."""
        self._http.headers = {header: value}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """NocoDB's JSON answer; a body that is not JSON is an outage (a proxy's error page)."""
        response = await self.send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise NocoDBUnavailable(f"NocoDB answered {method} {path} with a body that is not JSON.") from exc

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, after bounded retries of reads on operational errors; else the client's errors."""
        attempts = MAX_ATTEMPTS if method in RETRIED_METHODS else 1
        for attempt in range(attempts):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:  # connect, read, write, pool, timeouts, protocol
                error: NocoDBError = NocoDBUnreachable(
                    f"NocoDB is unreachable ({method} {path}): {type(exc).__name__}"
                )
                error.__cause__ = exc
            else:
                if response.status_code < 400:
                    return response
                error = _refusal(method, path, response)
            if not _retryable(error):
                raise error
            if attempt + 1 < attempts:
                await asyncio.sleep(_delay(error, attempt))
        raise error


def _refusal(method: str, path: str, response: httpx.Response) -> NocoDBError:
    """The error an answer of 400 or more stands for."""
    status = response.status_code
    message = nocodb_message(response)
    if status in AUTH_STATUS_CODES:
        return NocoDBTokenRefused(
            f"NocoDB refused the API token for {method} {path}: {status} {message}", status_code=status
        )
    if status == 404 and not _is_not_found(response):
        # While NocoDB starts up, its web server answers every route with an HTML 404: that says
        # nothing about the row or table asked for, so it is an outage, not a deletion.
        return NocoDBUnavailable(f"NocoDB is not serving {method} {path} yet (404)", status_code=404)
    if status in RETRY_STATUS_CODES:
        return NocoDBUnavailable(
            f"NocoDB failed {method} {path}: {status} {message}",
            status_code=status,
            retry_after=retry_after(response),
        )
    return NocoDBRequestError(
        f"NocoDB refused {method} {path}: {status} {message}", status_code=status, code=_error_code(response)
    )


def _retryable(error: NocoDBError) -> bool:
    """An outage may pass; a refused token or request is refused again."""
    return isinstance(error, NocoDBUnavailable) and not isinstance(error, NocoDBTokenRefused)


def _delay(error: NocoDBError, attempt: int) -> float:
    wanted = error.retry_after if isinstance(error, NocoDBUnavailable) else None
    return min(wanted or BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)], MAX_RETRY_AFTER_SECONDS)


def _is_not_found(response: httpx.Response) -> bool:
    """NocoDB's own answer for a missing record, table, view or hook: JSON
    ``{"error": "ERR_RECORD_NOT_FOUND", ...}`` (``ERR_TABLE_NOT_FOUND``, ...)."""
    return "NOT_FOUND" in (_error_code(response) or "").upper()


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code[:MESSAGE_CHARS] if isinstance(code, str) else None


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when the answer gives it as a number."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
