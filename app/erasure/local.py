"""NocoDB's local attachment storage: which files on disk belong to an attachment, and removing them.

NocoDB (npm build and Docker image alike) keeps an upload at ``<nc>/uploads/<YYYY/MM/DD/hex/name>``
and its thumbnails in ``<nc>/thumbnails/<YYYY/MM/DD/hex/name>/{tiny,small,card_cover}.jpg``; the
attachment cell names the same relative location as ``path`` (``download/<rel>``) and ``signedPath``
(``dltemp/<token>/<expiry>/<rel>``). The ``hex`` folder is shared by several uploads, so only the
files of this attachment are removed, never that folder. Anything that resolves outside the two
folders (``..``, a symlink, an absolute path) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from app.erasure.storage import PurgeRefused, Removed

__all__ = ["LocalUploads", "names_stored", "stored_location"]

THUMBNAILS_DIR = "thumbnails"
# download/<rel>, or dltemp/<token>/<expiry>/<rel>; <rel> is YYYY/MM/DD/<folder>/<file>.
_PATH = re.compile(r"^download/(?P<rel>.+)$")
_SIGNED_PATH = re.compile(r"^dltemp/[^/]+/\d+/(?P<rel>.+)$")
_REL = re.compile(r"^\d{4}/\d{2}/\d{2}/[^/]+/[^/]+$")
NAME_MAX = 255  # bytes of one file or folder name, on every file system NocoDB writes to


def stored_location(attachment: Mapping[str, Any]) -> str | None:
    """The attachment's location in NocoDB's local storage (``YYYY/MM/DD/folder/file``), or None when
    it names none (an S3 ``url``). Raises ``PurgeRefused`` for a location that is malformed."""
    for key, pattern in (("path", _PATH), ("signedPath", _SIGNED_PATH)):
        value = attachment.get(key)
        if isinstance(value, str) and value:
            match = pattern.match(unquote(value))
            if match is None:
                raise PurgeRefused(f"The attachment's {key} is not in NocoDB's storage.")
            rel = match["rel"]
            parts = PurePosixPath(rel).parts
            if (
                not _REL.match(rel)
                or ".." in parts
                or any(ord(c) < 32 for c in rel)
                or any(len(part.encode()) > NAME_MAX for part in parts)  # no file system holds it
            ):
                raise PurgeRefused(f"The attachment's {key} is not a NocoDB upload location.")
            return rel
    return None


def names_stored(location: str, rel: str) -> bool:
    """Whether ``location`` (a ``path``, a ``signedPath``, or a URL of either on NocoDB) names the
    stored upload ``rel``. A relative path is a file name, '?' and '#' included (as ``stored_location``
    reads it); only a URL has a query."""
    try:
        path = unquote(urlsplit(location).path if "://" in location else location)
    except ValueError:  # a malformed host: names nothing
        return False
    return re.search(r"(?:^|/)(?:download|dltemp/[^/]+/\d+)/" + re.escape(rel) + "$", path) is not None


class LocalUploads:
    """NocoDB's ``uploads`` folder and the ``thumbnails`` folder beside it."""

    def __init__(self, uploads_dir: Path) -> None:
        self.uploads = uploads_dir.resolve()
        self.thumbnails = (uploads_dir.parent / THUMBNAILS_DIR).resolve()

    def files(self, rel: str) -> list[Path]:
        """Every file of one stored upload that exists: the original, then its thumbnails."""
        original = self._inside(self.uploads, self.uploads / rel)
        thumbnails = self._inside(self.thumbnails, self.thumbnails / rel)
        found = [original] if original.is_file() else []
        if thumbnails.is_dir():
            found += sorted(self._inside(self.thumbnails, p) for p in thumbnails.iterdir() if p.is_file())
        return found

    def written_at(self, rel: str) -> float | None:
        """When NocoDB wrote the upload (its modification time: NocoDB writes a file once and never
        touches it again), None when it is not there or is not a plain file."""
        original = self._inside(self.uploads, self.uploads / rel)
        return original.stat().st_mtime if original.is_file() else None

    def remove(self, rel: str) -> Removed:
        """Delete the upload and its thumbnails; a file already gone counts as nothing."""
        removed = Removed()
        for path in self.files(rel):
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            removed += Removed(1, size)
        thumbnails = self._inside(self.thumbnails, self.thumbnails / rel)
        if thumbnails.is_dir() and not any(thumbnails.iterdir()):
            thumbnails.rmdir()  # this upload's own folder of thumbnails
        return removed

    @staticmethod
    def _inside(root: Path, path: Path) -> Path:
        if path.is_symlink():  # NocoDB writes plain files; a link could name another upload's file
            raise PurgeRefused("The attachment's file is a symbolic link.")
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise PurgeRefused("The attachment resolves outside NocoDB's upload folder.")
        return resolved
