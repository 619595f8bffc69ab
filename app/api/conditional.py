"""Conditional GETs: an ``If-None-Match`` that names the current ETag gets 304 and no body."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request, Response

__all__ = ["etag_matches", "not_modified"]


def _opaque(tag: str) -> str:
    # If-None-Match compares weakly (RFC 9110, 13.1.2): W/"x" and "x" are the same validator.
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether the header ``If-None-Match`` names ``etag`` (or is ``*``)."""
    if not if_none_match:
        return False
    wanted = _opaque(etag)
    return any(tag.strip() == "*" or _opaque(tag) == wanted for tag in if_none_match.split(","))


def not_modified(request: Request, etag: str, headers: Mapping[str, str]) -> Response | None:
    """A 304 carrying ``headers`` when the client already holds ``etag``; None otherwise."""
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={**headers, "ETag": etag})
    return None
