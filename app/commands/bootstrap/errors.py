"""``BootstrapError``: why ``facegate bootstrap`` cannot go on, in the one line the operator sees.

NocoDB's own errors (the ``NocoDBError`` family of ``app.integrations.nocodb``) are translated here, at
the command's edge, so that a caller of ``bootstrap()`` or ``attach()`` sees one kind of error: a
``CommandError`` of facegate's hierarchy (``app.errors``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from app.errors import CommandError
from app.integrations.nocodb.errors import NocoDBError, NocoDBUnreachable

__all__ = ["BootstrapError", "nocodb_errors"]


class BootstrapError(CommandError):
    """NocoDB refused or is unreachable, or the table holds something facegate must not silently
    change. ``status`` is NocoDB's HTTP status, when it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def nocodb_errors(nocodb_url: str) -> Iterator[None]:
    """Raise NocoDB's errors in the block as ``BootstrapError``, chained to them."""
    try:
        yield
    except NocoDBUnreachable as exc:
        raise BootstrapError(f"NocoDB is not reachable at {nocodb_url}: {_described(exc)}") from exc
    except NocoDBError as exc:
        raise BootstrapError(exc.message, status=exc.status_code) from exc


def _described(exc: NocoDBUnreachable) -> str:
    """What the transport said: ``ConnectError: All connection attempts failed``."""
    cause = exc.__cause__
    if cause is None:
        return exc.message
    return type(cause).__name__ + (f": {cause}" if str(cause) else "")
