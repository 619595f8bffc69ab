"""facegate's one error hierarchy, and the one handler that renders it.

    FacegateError
    ├── InputError (4xx: the caller's request is at fault; never retried)
    │   ├── Unauthorized            401
    │   ├── Forbidden               403
    │   │   ├── OperatorEndpointsClosed 403 (no operator key is configured)
    │   │   └── BrowserRequest      403 (a web page, not a script, sent it)
    │   ├── NotFound                404
    │   │   └── UnknownPolitician   404
    │   ├── PayloadTooLarge         413
    │   ├── UnsupportedMediaType    415
    │   ├── InvalidRequest          422
    │   └── RateLimited             429
    ├── ServiceError (5xx: facegate or a dependency is not able to answer now)
    │   ├── NotReady                503
    │   │   └── CannotModerate      503 (code: why, app.readiness.Unready: nocodb_unreachable, ...)
    │   ├── OriginalUnavailable     503 (a carousel image needs NocoDB's original, out of reach now)
    │   ├── DatabaseUnavailable     503 (facegate's database cannot be reached now)
    │   ├── ReferenceSetError       500 (a reference photo or profile is broken)
    │   └── AnalysisFailed          500 (a face worker hung or crashed on this picture)
    └── CommandError (a ``facegate`` command cannot go on; never an HTTP answer)
        ├── BootstrapError          (app.commands.bootstrap: NocoDB refused or is unreachable, or the table
        │                            cannot be used; the NocoDBError family translated at the command's edge)
        ├── SettingsFileError       (app.settings_file: the .env cannot be read or written)
        └── BankError               (app.politicians.bank: the bank of other people cannot be fetched)

NocoDB's clients have their own family (``app.integrations.nocodb.errors``: ``NocoDBError``), which
each caller translates at its edge: the runner retries or fails the job, bootstrap raises
``BootstrapError``.

Image problems found while decoding are not errors of the service: they become a
``rejected`` verdict with reason ``unreadable_image`` (see ``app.faces.intake``).

No answer shows an absolute path of the server's disk (``hide_paths``): a reference folder's errors
name their files relative to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The JSON shape of every error facegate answers."""

    code: str
    message: str
    detail: Any | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class FacegateError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, detail: Any | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InputError(FacegateError):
    status_code = 400
    code = "bad_request"


class Unauthorized(InputError):
    status_code = 401
    code = "unauthorized"


class Forbidden(InputError):
    status_code = 403
    code = "forbidden"


class OperatorEndpointsClosed(Forbidden):
    code = "operator_endpoints_closed"


class BrowserRequest(Forbidden):
    code = "browser_request"


class NotFound(InputError):
    status_code = 404
    code = "not_found"


class UnknownPolitician(NotFound):
    code = "unknown_politician"


class PayloadTooLarge(InputError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(InputError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidRequest(InputError):
    status_code = 422
    code = "invalid_request"


class RateLimited(InputError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, detail={"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceError(FacegateError):
    status_code = 500
    code = "internal_error"


class NotReady(ServiceError):
    status_code = 503
    code = "not_ready"


class FacesUnavailable(NotReady):
    """The face workers cannot analyse anything (they fail on a blank picture too): the row waits
    and is tried again, and the failure is not counted against its picture."""


class CannotModerate(NotReady):
    """facegate cannot moderate now: NocoDB unreachable, its token refused, the table or a column
    missing, no politician. ``code`` is that reason (``app.readiness.Unready``), for a monitor to
    tell the cases apart without reading the message."""

    def __init__(self, reason: str, message: str, *, detail: Any | None = None) -> None:
        super().__init__(message, detail=detail)
        self.code = reason


class OriginalUnavailable(ServiceError):
    """A carousel image must be made from NocoDB's original, and NocoDB (or its storage) cannot be
    reached now: the HTTP face of the client's ``NocoDBUnavailable``. The code predates the name."""

    status_code = 503
    code = "upstream_unavailable"


class DatabaseUnavailable(ServiceError):
    """The database (PostgreSQL, or a SQLite file another process holds) does not answer now."""

    status_code = 503
    code = "database_unavailable"


class ReferenceSetError(ServiceError):
    """A reference photo or profile cannot be used; the message names the file."""

    code = "reference_error"


class AnalysisFailed(ServiceError):
    """A face worker hung past the pool's timeout, or died, while it analysed this picture: the
    picture's doing, or the machine's (the moderation loop tries a picture a few times, then rejects
    it: ``analysis_failed``)."""

    code = "analysis_failed"


class CommandError(FacegateError):
    """A command line command cannot go on; its message is the one line the operator sees."""

    code = "command_error"


# An absolute path of at least two segments, not part of a URL; quotes, spaces and colons end it.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s/'\"(),;:]+){2,}/?")


def hide_paths(value: Any, roots: Iterable[Path] = ()) -> Any:
    """``value`` (text, or lists and dicts of it) without absolute paths: a path under one of
    ``roots`` is shown from that folder's name on (``reference_faces/obama/a.jpg``), any other by
    its last part (``…/a.jpg``)."""
    if isinstance(value, str):
        for root in sorted({str(r).rstrip("/") for r in roots if str(r).startswith("/")}, key=len)[::-1]:
            value = value.replace(root + "/", Path(root).name + "/").replace(root, Path(root).name)
        return _ABSOLUTE_PATH.sub(lambda match: "…/" + match.group().rstrip("/").rsplit("/", 1)[-1], value)
    if isinstance(value, list):
        return [hide_paths(item, roots) for item in value]
    if isinstance(value, dict):
        return {key: hide_paths(item, roots) for key, item in value.items()}
    return value


def error_response(status_code: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, detail=detail))
    headers = {}
    if status_code == 401:
        headers["WWW-Authenticate"] = "API-Key"
    if isinstance(detail, dict) and "retry_after" in detail:
        headers["Retry-After"] = str(detail["retry_after"])
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, ours, FastAPI's and Starlette's, in the one ``ErrorResponse`` shape."""

    @app.exception_handler(FacegateError)
    async def _facegate(request: Request, exc: FacegateError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed: %s", exc.message)
        roots = getattr(request.app.state, "private_roots", ())
        return error_response(
            exc.status_code, exc.code, hide_paths(exc.message, roots), hide_paths(exc.detail, roots)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Input echoes are dropped: a rejected upload must not travel back in the error.
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
            for err in exc.errors()
        ]
        return error_response(422, "invalid_request", "The request is not valid.", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "Internal error.")
