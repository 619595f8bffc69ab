"""The NocoDB records API (v2) and attachment downloads.

API calls go through ``NocoDBHttp`` (``app.integrations.nocodb.http``), with the family's errors and
retry rules: reads retried on outages, writes sent once; what still fails is raised as
``NocoDBUnavailable`` so the job queue retries later. Downloads have a client of their own, without
credentials, behind an SSRF guard.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from app.integrations.nocodb.errors import (
    AttachmentRefused,
    NocoDBRequestError,
    NocoDBTokenRefused,
    NocoDBUnavailable,
    NocoDBUnreachable,
)
from app.integrations.nocodb.http import RETRY_STATUS_CODES, TOKEN_HEADER, NocoDBHttp, retry_after

__all__ = ["DEFAULT_TIMEOUT", "MAX_REDIRECTS", "PAGE_SIZE", "NocoDBClient", "Page"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Per-read timeouts do not stop a server that drips a byte at a time: the whole download has a deadline.
DOWNLOAD_DEADLINE_SECONDS = 60.0
PAGE_SIZE = 100
MAX_REDIRECTS = 3
# NocoDB's own locations are a few hundred characters; a longer one is forged.
MAX_LOCATION_CHARS = 4096


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    is_last: bool


class NocoDBClient:
    """One NocoDB instance, authenticated with an API token (``xc-token``)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_token: str | None,
        allowed_origins: Sequence[str] = (),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api = NocoDBHttp(base_url=base_url, timeout=DEFAULT_TIMEOUT, transport=transport)
        if api_token:
            self._api.authenticate(TOKEN_HEADER, api_token)
        self.base_url = self._api.base_url
        self._origin = _origin(self.base_url)
        self._allowed_origins = {self._origin, *(_origin(o) for o in allowed_origins)}
        # Attachments carry no credentials: a URL on another origin must never see the token.
        self._files = httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._files.aclose()

    # Records.

    async def list_rows(
        self,
        table_id: str,
        *,
        where: str,
        fields: Sequence[str],
        offset: int = 0,
        limit: int = PAGE_SIZE,
    ) -> Page:
        params = {
            "where": where,
            "fields": ",".join(fields),
            "sort": "Id",
            "limit": limit,
            "offset": offset,
        }
        body = await self._json("GET", f"api/v2/tables/{table_id}/records", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("list", []), list):
            raise NocoDBUnavailable("NocoDB answered the records list with an unexpected body.")
        page_info = body["pageInfo"] if isinstance(body.get("pageInfo"), dict) else {}
        rows = [row for row in body.get("list") or [] if isinstance(row, dict)]
        return Page(rows=rows, is_last=bool(page_info.get("isLastPage", len(rows) < limit)))

    async def iter_rows(
        self, table_id: str, *, where: str, fields: Sequence[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching row, by ascending Id.

        Pages by key (``Id > last``), not by offset: rows decided while the sweep pages through the
        filtered set would otherwise shift the later rows out of reach.
        """
        last_id = 0
        while True:
            page = await self.list_rows(table_id, where=f"{where}~and(Id,gt,{last_id})", fields=fields)
            ids = [row["Id"] for row in page.rows if isinstance(row.get("Id"), int)]
            for row in page.rows:
                yield row
            if page.is_last or not ids or max(ids) <= last_id:
                return
            last_id = max(ids)

    async def get_row(self, table_id: str, row_id: int) -> dict[str, Any] | None:
        """The row, or None when it does not exist (any more). "Gone" decides a row's fate (its
        files erased, its job finished), so NocoDB's word for it (a 404, or the ``{}`` it gives for
        some missing rows) is checked against the records list before it counts. A table or base
        NocoDB does not find says nothing about the row (a table id mistyped, a base being restored):
        an outage."""
        try:
            row = await self._json("GET", f"api/v2/tables/{table_id}/records/{row_id}")
        except NocoDBRequestError as exc:
            if exc.status_code == 404 and "RECORD" in (exc.code or "ERR_RECORD_NOT_FOUND").upper():
                return await self._gone(table_id, row_id)
            if exc.status_code == 404:
                raise NocoDBUnavailable(
                    f"NocoDB does not find table {table_id} ({exc.code}): check FACEGATE_NOCODB_TABLE_ID",
                    status_code=404,
                ) from exc
            raise
        if isinstance(row, dict) and isinstance(row.get("Id", row.get("id")), int):
            return row
        return await self._gone(table_id, row_id)

    async def _gone(self, table_id: str, row_id: int) -> dict[str, Any] | None:
        """None when the records list agrees the row is gone; an outage when it lists it."""
        page = await self.list_rows(table_id, where=f"(Id,eq,{row_id})", fields=["Id"], limit=1)
        if any(row.get("Id") == row_id for row in page.rows):
            raise NocoDBUnavailable(f"NocoDB answered row {row_id} as missing, and lists it: asked again")
        return None

    async def created_by(self, table_id: str, row_id: int, user_id: str) -> bool:
        """Whether NocoDB records ``user_id`` as the row's creator (its hidden ``nc_created_by`` system
        field, empty for a public-form row; the API never returns it, but filters on it). A table
        without that field is refused: ``NocoDBRequestError``."""
        where = f"(Id,eq,{row_id})~and(nc_created_by,eq,{user_id})"
        page = await self.list_rows(table_id, where=where, fields=["Id"], limit=1)
        return any(row.get("Id") == row_id for row in page.rows)

    async def token_user_id(self) -> str:
        """The id of the NocoDB user facegate's API token belongs to."""
        body = await self._json("GET", "api/v2/auth/user/me")
        user_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise NocoDBUnavailable("NocoDB did not say whose API token facegate holds.")
        return user_id

    async def update_row(self, table_id: str, row_id: int, fields: Mapping[str, Any]) -> None:
        await self._json("PATCH", f"api/v2/tables/{table_id}/records", json={"Id": row_id, **fields})

    async def delete_row(self, table_id: str, row_id: int) -> bool:
        """Delete one row; False when it was already gone."""
        try:
            await self._json("DELETE", f"api/v2/tables/{table_id}/records", json=[{"Id": row_id}])
        except NocoDBRequestError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return await self._api.json(method, path, **kwargs)
        except NocoDBTokenRefused as exc:
            # A rotated or revoked token: nothing is decided until an operator fixes it.
            log.error(
                "NocoDB refused facegate's API token (%s): check FACEGATE_NOCODB_API_TOKEN", exc.status_code
            )
            raise

    # Attachments.

    async def upload(self, name: str, data: bytes, mimetype: str) -> tuple[list[dict[str, Any]], str | None]:
        """Store a file in NocoDB's storage as facegate's token user (``/api/v2/storage/upload``):
        the attachment items NocoDB made for it, and its ``Date`` header (NocoDB's clock)."""
        response = await self._api.send(
            "POST", "api/v2/storage/upload", files={"files": (name, data, mimetype)}
        )
        try:
            body = response.json()
        except ValueError as exc:
            raise NocoDBUnavailable("NocoDB answered the upload with a body that is not JSON.") from exc
        items = [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []
        return items, response.headers.get("date")

    def attachment_urls(self, attachment: Mapping[str, Any]) -> list[str]:
        """Where an attachment cell's file may be fetched, most durable first; refuses other origins."""
        candidates = [attachment.get(key) for key in ("path", "signedPath", "url", "signedUrl")]
        urls: list[str] = []
        refused: list[str] = []
        for candidate in candidates:
            if not isinstance(candidate, str) or not candidate:
                continue
            try:
                urls.append(self._resolve(candidate))
            except AttachmentRefused as exc:
                refused.append(exc.message)
        if not urls:
            raise AttachmentRefused("; ".join(refused) or "The attachment has no path or URL.")
        return list(dict.fromkeys(urls))

    def _resolve(self, location: str) -> str:
        if len(location) > MAX_LOCATION_CHARS:
            raise AttachmentRefused(f"Attachment location is longer than {MAX_LOCATION_CHARS} characters.")
        try:
            return self._resolve_url(location)
        except ValueError as exc:  # urlsplit and .port refuse malformed hosts and ports
            raise AttachmentRefused(f"Attachment URL is malformed: {exc}") from exc

    def _resolve_url(self, location: str) -> str:
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:
            if parts.scheme not in {"http", "https"}:
                raise AttachmentRefused(f"Attachment URL scheme {parts.scheme!r} is not allowed.")
            url = location
        else:
            # A relative path names a file in NocoDB's storage, not a URL: a '?' or '#' in an uploader's
            # file name belongs to the name, so the whole path is decoded once and quoted again.
            decoded = unquote(location)
            segments = decoded.replace("\\", "/").split("/")
            if ".." in segments or decoded.startswith("/") or any(ord(c) < 32 for c in decoded):
                raise AttachmentRefused("Attachment path leaves NocoDB's download folder.")
            url = urljoin(self.base_url, quote(posixpath.normpath(decoded), safe="/"))
        if _origin(url) not in self._allowed_origins:
            raise AttachmentRefused(f"Attachment origin {_origin(url)} is not NocoDB's and not allowed.")
        return url

    def _redirect_target(self, url: str, response: httpx.Response) -> str:
        location = response.headers.get("location", "")
        if not location:
            raise AttachmentRefused("The attachment redirects nowhere.")
        try:
            return self._resolve(urljoin(url, location))
        except ValueError as exc:
            raise AttachmentRefused(f"The attachment redirects to a malformed URL: {exc}") from exc

    async def download(self, attachment: Mapping[str, Any], *, max_bytes: int) -> bytes:
        """The attachment's bytes, streamed with a byte limit; tries each allowed location in turn."""
        last: Exception | None = None
        for url in self.attachment_urls(attachment):
            try:
                return await self._download(url, max_bytes=max_bytes)
            except NocoDBRequestError as exc:
                if isinstance(exc, AttachmentRefused) and exc.status_code is None:
                    raise  # too large or a forbidden redirect: another copy is no better
                last = exc
        assert last is not None
        raise last

    async def _download(self, url: str, *, max_bytes: int) -> bytes:
        try:
            async with asyncio.timeout(DOWNLOAD_DEADLINE_SECONDS):
                return await self._download_following(url, max_bytes=max_bytes)
        except TimeoutError as exc:
            raise NocoDBUnavailable("Attachment download took too long.") from exc

    async def _download_following(self, url: str, *, max_bytes: int) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self._files.stream("GET", url) as response:
                    if response.is_redirect:
                        url = self._redirect_target(url, response)
                        continue
                    if response.status_code in RETRY_STATUS_CODES:
                        raise NocoDBUnavailable(
                            f"Attachment download failed: {response.status_code}",
                            status_code=response.status_code,
                            retry_after=retry_after(response),
                        )
                    if response.status_code >= 400:
                        raise AttachmentRefused(
                            f"Attachment download refused: {response.status_code}",
                            status_code=response.status_code,
                        )
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise AttachmentRefused(
                            f"The attachment has {declared} bytes; the limit is {max_bytes}."
                        )
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise AttachmentRefused(f"The attachment is larger than {max_bytes} bytes.")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.RemoteProtocolError as exc:
                # httpx parses Location itself: a malformed one is the attachment's fault, not an outage.
                if "location header" in str(exc).lower():
                    raise AttachmentRefused("The attachment redirects to a malformed URL.") from exc
                raise NocoDBUnreachable(f"NocoDB is unreachable (attachment download): {exc!s:.80}") from exc
            except httpx.TransportError as exc:
                raise NocoDBUnreachable(
                    f"NocoDB is unreachable (attachment download): {type(exc).__name__}"
                ) from exc
            except httpx.InvalidURL as exc:  # what urlsplit let through and httpx does not
                raise AttachmentRefused(f"Attachment URL is malformed: {exc}") from exc
        raise AttachmentRefused("Too many redirects for the attachment.")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host  # IPv6: keep the brackets so the port stays apart
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
