"""NocoDB's storage as facegate reaches it: its local uploads folder, its S3-compatible bucket, or both
(``FACEGATE_NOCODB_UPLOADS_DIR``, ``FACEGATE_S3_*``), and where an attachment's file is in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from app.erasure.local import LocalUploads, names_stored, stored_location
from app.erasure.s3 import UPLOADS_PREFIX, S3Uploads
from app.erasure.storage import PurgeRefused, Storage, is_object_url

__all__ = ["LOCATION_KEYS", "StorageNotConfigured", "StoredFiles", "locate", "location_or_none", "same_file"]

# Where an attachment cell says its file is: NocoDB's local storage gives ``path`` and ``signedPath``,
# S3 ``url`` and ``signedUrl``.
LOCATION_KEYS = ("path", "signedPath", "url", "signedUrl")


class StorageNotConfigured(Exception):
    """facegate is not given the storage that holds this location (its settings name no such folder
    or bucket)."""


def locate(attachment: Mapping[str, Any]) -> str | None:
    """Where the attachment's file is stored: its local location, else its object URL (S3), else
    None. Raises ``PurgeRefused`` for a local path that is not an upload location."""
    local = stored_location(attachment)
    if local is not None:
        return local
    url = attachment.get("url")
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


def location_or_none(attachment: object) -> str | None:
    """``locate``, None for anything that names no file of NocoDB's storage (not a cell item, or a
    location ``locate`` refuses)."""
    if not isinstance(attachment, Mapping):
        return None
    try:
        return locate(attachment)
    except PurgeRefused:
        return None


def same_file(attachment: Mapping[str, Any], proved: str | None = None) -> dict[str, Any]:
    """The attachment with only the locations that name the file ``locate`` names (or ``proved``): the
    one provenance proves the row's own. A forged cell may prove one file by its ``path`` and name
    another (a private table's photo) by its ``url``; the download tries each location in turn, and
    must fetch no other."""
    located = proved or location_or_none(attachment)
    kept = {key: value for key, value in attachment.items() if key not in LOCATION_KEYS}
    for key in LOCATION_KEYS:
        value = attachment.get(key)
        if isinstance(value, str) and located is not None and _names(value, located):
            kept[key] = value
    return kept


def _names(location: str, located: str) -> bool:
    if not is_object_url(located):
        return names_stored(location, located)
    # S3: the object URL, or a presigned URL of the same object: the same host and path, a query
    # added (NocoDB 0.301 writes ``url`` as https and signs an http ``signedUrl`` for an http endpoint).
    found = _object(location)
    return found is not None and found == _object(located)


def _object(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed host (``http://[not-an-ip/``): names no object
        return None
    return parts.netloc.lower(), unquote(parts.path)


class StoredFiles:
    """The storages facegate may read and change; either may be None (not configured)."""

    def __init__(self, *, local: LocalUploads | None, s3: S3Uploads | None = None) -> None:
        self.local = local
        self.s3 = s3

    @property
    def configured(self) -> bool:
        return self.local is not None or self.s3 is not None

    def storage(self, location: str) -> Storage | None:
        """The storage of ``location``, None when it is not configured."""
        return self.s3 if is_object_url(location) else self.local

    def upload_path(self, location: str) -> str:
        """The upload's ``YYYY/MM/DD/folder/file``, as NocoDB named it. Raises ``PurgeRefused`` for an
        object URL outside the bucket, ``StorageNotConfigured`` for one without a bucket configured."""
        if not is_object_url(location):
            return location
        if self.s3 is None:
            raise StorageNotConfigured(location)
        return self.s3.key(location).removeprefix(UPLOADS_PREFIX)

    def written_at(self, location: str) -> float | None:
        """When the upload was written (epoch seconds), None when it is not there. Raises
        ``StorageNotConfigured``, ``PurgeRefused``, ``StorageUnavailable`` or ``OSError``."""
        storage = self.storage(location)
        if storage is None:
            raise StorageNotConfigured(location)
        return storage.written_at(location)
