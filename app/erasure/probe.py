"""Is NocoDB's storage where facegate's settings say, on NocoDB's clock? A probe file proves it.

Provenance (``app.erasure.provenance``) takes a file it cannot find in NocoDB's storage, or one
written outside its row's time, for a forged attachment, and the row is rejected. A setting that
misses NocoDB's storage (an uploads folder that is not NocoDB's ``nc/uploads``, another bucket or
endpoint, NocoDB's S3 address not allowed, NocoDB switched from its disk to S3) or a storage whose
clock is off would make every upload look forged. So facegate stores a small file through NocoDB, as
its token's user, and looks for it as it looks for an upload: an address it may fetch, a location in
the configured storage, written at NocoDB's time. Readiness runs it (``storage``,
``storage_mismatch``); while it fails, no row is decided (provenance raises ``NotReady``). The probe
file is erased at once.
"""

from __future__ import annotations

import asyncio
import io
import logging
from email.utils import parsedate_to_datetime
from typing import Any

from PIL import Image

from app.erasure.files import StorageNotConfigured, StoredFiles, locate
from app.erasure.provenance import WRITTEN_AFTER_SECONDS, WRITTEN_BEFORE_SECONDS
from app.erasure.storage import PurgeRefused, StorageUnavailable
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBError
from app.readiness import Check, Unready

__all__ = ["PROBE_NAME", "StorageProbe"]

log = logging.getLogger(__name__)

PROBE_NAME = "facegate-storage-probe.png"
# The Date header and the stored time have whole seconds: the probe keeps this inside provenance's window.
CLOCK_SLACK_SECONDS = 1.0
SETTINGS = "FACEGATE_NOCODB_UPLOADS_DIR, FACEGATE_S3_* or FACEGATE_ATTACHMENT_ALLOWED_ORIGINS"


class StorageProbe:
    """The probe of one process: settings change only with a restart, so a probe that passed is not
    run again, and a probe file not found is looked for again rather than another stored (one file
    per process at most stays in NocoDB's storage when the settings miss it). NocoDB makes an image's
    thumbnails after it answers: the probe file is erased again at the next check, thumbnails too."""

    def __init__(self, nocodb: NocoDBClient, files: StoredFiles) -> None:
        self.nocodb = nocodb
        self.files = files
        self._passed: Check | None = None
        self._failed: Check | None = None
        self._pending: tuple[dict[str, Any], str | None] | None = None  # stored, not found yet
        self._erase_again: str | None = None

    def problem(self) -> str | None:
        """Why no upload may be proved yet: None once the probe has passed. Before it has run (NocoDB
        down at start), no upload is proved either: provenance would judge it on unchecked settings."""
        if self._passed is not None:
            return None
        if self._failed is not None:
            return self._failed.detail
        return "the storage probe has not run yet (it runs once NocoDB's checks pass)"

    async def check(self) -> Check:
        """Store the probe file through NocoDB (or take the one not found before) and find it as an
        upload is found; never raises."""
        if self._erase_again is not None:
            await _erase(self.files, self._erase_again)
            self._erase_again = None
        if self._passed is not None:
            return self._passed
        if self._pending is None:
            try:
                items, date = await self.nocodb.upload(PROBE_NAME, _probe_png(), "image/png")
            except NocoDBError as exc:
                return self._fails(f"NocoDB did not store a probe file: {exc.message}")
            if not items:
                return self._fails("NocoDB answered the probe file's upload without an attachment")
            self._pending = (items[0], date)
        attachment, date = self._pending
        try:
            location = locate(attachment)
        except PurgeRefused as exc:
            self._pending = None
            return self._fails(f"NocoDB's upload names no file of its storage: {exc}")
        check, found = await _look_for(self.nocodb, self.files, attachment, location, date)
        if found and location is not None:
            self._pending, self._erase_again = None, location
            await _erase(self.files, location)
        if check.passed:
            self._passed = check
        else:
            self._failed = check
        return check

    def _fails(self, detail: str) -> Check:
        self._failed = _mismatch(detail)
        return self._failed


async def _look_for(
    nocodb: NocoDBClient,
    files: StoredFiles,
    attachment: dict[str, Any],
    location: str | None,
    date: str | None,
) -> tuple[Check, bool]:
    """The check, and whether the file was found (facegate then erases it)."""
    try:
        nocodb.attachment_urls(attachment)
    except AttachmentRefused as exc:
        return _mismatch(f"facegate may not fetch NocoDB's uploads ({exc.message}): see {SETTINGS}"), False
    if location is None:
        return _mismatch("NocoDB's upload names no file facegate can look for"), False
    where = "its bucket" if "://" in location else "its uploads folder"
    try:
        files.upload_path(location)
        written = await asyncio.to_thread(files.written_at, location)
    except StorageNotConfigured:
        kind = "in S3" if "://" in location else "on its own disk"
        return _mismatch(
            f"NocoDB stores uploads {kind}, and facegate is not set up for it: {SETTINGS}"
        ), False
    except PurgeRefused as exc:
        return _mismatch(
            f"NocoDB's upload is not in the storage facegate is set up for ({exc}): {SETTINGS}"
        ), False
    except (StorageUnavailable, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        return _mismatch(f"NocoDB's storage cannot be read: {why}"), False
    if written is None:
        missing = (
            f"the file NocoDB just stored is not in {where} as facegate's settings name it: is"
            f" FACEGATE_NOCODB_UPLOADS_DIR NocoDB's nc/uploads folder, the bucket NocoDB's? ({SETTINGS})"
        )
        return _mismatch(missing), False
    skew = _skew(written, date)
    if skew is not None and not (
        -WRITTEN_BEFORE_SECONDS + CLOCK_SLACK_SECONDS <= skew <= WRITTEN_AFTER_SECONDS - CLOCK_SLACK_SECONDS
    ):
        off = (
            f"the storage's clock is {skew:+.0f} s off NocoDB's: uploads would look written before or after"
            " their rows; set both clocks right (NTP)"
        )
        return _mismatch(off), True
    return Check("storage", f"a probe file stored through NocoDB is found in {where}"), True


def _skew(written: float, date: str | None) -> float | None:
    """The storage's write time less NocoDB's time of answering (its Date header), if it gave one."""
    if not date:
        return None
    try:
        return written - parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None


async def _erase(files: StoredFiles, location: str) -> None:
    storage = files.storage(location)
    if storage is None:
        return
    try:
        await asyncio.to_thread(storage.remove, location)
    except (PurgeRefused, StorageUnavailable, OSError) as exc:
        log.warning("the storage probe file was not erased: %s", exc)


def _mismatch(detail: str) -> Check:
    return Check("storage", detail, Unready.STORAGE_MISMATCH)


def _probe_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 255, 255)).save(out, "PNG")
    return out.getvalue()
