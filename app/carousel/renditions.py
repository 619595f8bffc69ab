"""The JPEG renditions facegate serves for approved uploads, one file per size on disk.

Re-encoding as JPEG also drops the uploader's EXIF data, GPS position included.
"""

from __future__ import annotations

import io
from enum import StrEnum
from pathlib import Path

from PIL import Image

from app.errors import ServiceError
from app.faces.intake import ImageRejected, Limits, decode

__all__ = ["RENDITION_SIDES", "Rendition", "Renditions"]

JPEG_QUALITY = 85


class Rendition(StrEnum):
    IMAGE = "image"
    THUMBNAIL = "thumbnail"


RENDITION_SIDES = {Rendition.IMAGE: 1600, Rendition.THUMBNAIL: 480}


class Renditions:
    """JPEG files ``<approval id>-<rendition>.jpg`` in one folder."""

    def __init__(self, directory: Path, limits: Limits) -> None:
        self.directory = directory
        self.limits = limits

    def path(self, approval_id: int, rendition: Rendition) -> Path:
        return self.directory / f"{approval_id}-{rendition.value}.jpg"

    def make(self, original: bytes) -> dict[Rendition, bytes]:
        """Every rendition of an image, as JPEG bytes; raises ``ServiceError`` for an image that
        cannot be rendered (which is then not approved)."""
        try:
            decoded = decode(original, self.limits)
        except ImageRejected as exc:
            raise ServiceError(f"The image cannot be rendered: {exc.message}") from exc
        made = {}
        for rendition, side in RENDITION_SIDES.items():
            image = decoded.image.copy()
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
            made[rendition] = out.getvalue()
        return made

    def save(self, approval_id: int, made: dict[Rendition, bytes]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for rendition, data in made.items():
            target = self.path(approval_id, rendition)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)  # concurrent first requests may both render; the rename is atomic

    def render(self, approval_id: int, original: bytes) -> None:
        """Make and keep every rendition of one approval from its original image."""
        self.save(approval_id, self.make(original))

    def discard(self, approval_ids: list[int]) -> None:
        for approval_id in approval_ids:
            for rendition in Rendition:
                self.path(approval_id, rendition).unlink(missing_ok=True)
