"""The JPEG renditions facegate serves for approved uploads, one per size, made once from the
verified bytes and kept in the database with the approval (``app.carousel.store``).

Re-encoding as JPEG also drops the uploader's EXIF data, GPS position included.
"""

from __future__ import annotations

import io
from enum import StrEnum

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
    """Makes the renditions of an image, within the intake's ``limits``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

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
