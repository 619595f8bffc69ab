"""Where an upload's files live, as the eraser sees it: a location per attachment, and a storage
that can remove what is at a location.

NocoDB keeps attachments either on its local disk (the cell has a ``path``) or in an S3-compatible
bucket (the cell has an absolute ``url``). A location is the disk path relative to NocoDB's uploads
folder (``YYYY/MM/DD/folder/file``) or the object's URL; the two never look alike (only a URL has
``://``), so a pending purge can be finished by whichever storage is configured later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

__all__ = [
    "PurgeRefused",
    "Removed",
    "Storage",
    "StorageUnavailable",
    "file_name",
    "is_object_url",
]


class PurgeRefused(Exception):
    """The attachment names no file facegate may delete."""


class StorageUnavailable(Exception):
    """The storage could not be reached or changed now; the purge stays pending and is retried."""


@dataclass(frozen=True)
class Removed:
    files: int = 0
    bytes: int = 0

    def __add__(self, other: Removed) -> Removed:
        return Removed(self.files + other.files, self.bytes + other.bytes)


class Storage(Protocol):
    def remove(self, location: str) -> Removed:
        """Delete the file at ``location`` and its thumbnails; a file already gone counts as nothing.
        Raises ``PurgeRefused`` or ``StorageUnavailable`` (or ``OSError``)."""
        ...

    def written_at(self, location: str) -> float | None:
        """When the upload at ``location`` was written (epoch seconds), None when it is not there.
        Raises ``PurgeRefused`` or ``StorageUnavailable`` (or ``OSError``)."""
        ...


def is_object_url(location: str) -> bool:
    return "://" in location


def file_name(location: str) -> str:
    """The last segment of a location: what NocoDB's ``like`` filter can look for in the cells."""
    path = urlsplit(location).path if is_object_url(location) else location
    return unquote(path.rsplit("/", 1)[-1])
