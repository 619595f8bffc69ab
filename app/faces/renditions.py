"""The JPEG renditions facegate serves for approved uploads, one per size, made once from the
verified picture and kept in the database with the approval (``app.carousel.store``).

``render`` makes them from pixels already decoded: a face worker (``app.faces.pool``) renders a
picture it decoded for its faces, so moderation never decodes it twice. ``Renditions`` decodes
bytes first, in the calling process: for what a moderator approved, and for the carousel's re-make
of renditions lost in a crash, both rare.

Re-encoding as JPEG also drops the uploader's EXIF data, GPS position included.
"""

from __future__ import annotations

import io
from enum import StrEnum

from PIL import Image

from app.errors import ServiceError
from app.faces.intake import ImageRejected, Limits, decode

__all__ = ["RENDITION_SIDES", "Rendition", "Renditions", "render"]

JPEG_QUALITY = 85


class Rendition(StrEnum):
    IMAGE = "image"
    THUMBNAIL = "thumbnail"


RENDITION_SIDES = {Rendition.IMAGE: 1600, Rendition.THUMBNAIL: 480}


def render(image: Image.Image) -> dict[Rendition, bytes]:
    """Every rendition of a decoded picture (``DecodedImage.image``), as JPEG bytes, each at most
    ``RENDITION_SIDES`` long; ``image`` is not changed. Pillow's errors propagate."""
    made = {}
    for rendition, side in RENDITION_SIDES.items():
        copy = image.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        made[rendition] = out.getvalue()
    return made


class Renditions:
    """Makes the renditions of an image's bytes, decoded within the intake's ``limits``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def make(self, original: bytes) -> dict[Rendition, bytes]:
        """Every rendition of an image, as JPEG bytes; raises ``ServiceError`` for an image that
        cannot be decoded (which is then not approved)."""
        try:
            decoded = decode(original, self.limits)
        except ImageRejected as exc:
            raise ServiceError(f"The image cannot be rendered: {exc.message}") from exc
        return render(decoded.image)
