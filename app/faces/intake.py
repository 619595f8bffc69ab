"""Safe image intake: untrusted bytes in, an 8-bit RGB picture as displayed out.

Shared by ``POST /verify`` and the moderation loop. Limits are checked before any pixel is decoded:
the byte size first, then the pixel count the header declares (decompression bombs). The format is
recognised from the content only. Pillow's ``LOAD_TRUNCATED_IMAGES`` stays off, so a truncated file
is refused instead of being half-read (``face_recognition.load_image_file`` would turn it on).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF (iPhone photos), when pillow-heif is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _HEIF: tuple[str, ...] = ("HEIF",)
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    _HEIF = ()

Image.init()
# Multi-picture JPEGs (MPO) are opened by the JPEG plugin; AVIF needs a Pillow built with libavif.
ACCEPTED_FORMATS: tuple[str, ...] = tuple(
    f for f in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", *_HEIF) if f in Image.OPEN
)
# Orientations 5 to 8 swap width and height.
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
_HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
# Modes Image.reduce averages correctly (not palettes, whose indices are not colours).
_REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "RGBa", "La", "I", "F"}


class RejectKind(StrEnum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"
    UNREADABLE = "unreadable"


class ImageRejected(Exception):
    """The bytes are not an image facegate will look at; ``kind`` says why."""

    def __init__(self, kind: RejectKind, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    # The decoded copy is at most this long; JPEGs are decoded straight at a reduced scale.
    max_side: int


@dataclass(frozen=True)
class DecodedImage:
    """An 8-bit RGB copy of an image as displayed, at most ``Limits.max_side`` long.

    ``width`` and ``height`` are the full size of the image as displayed (after EXIF orientation);
    ``image`` may be smaller than that.
    """

    image: Image.Image
    width: int
    height: int
    format: str

    def pixels(self, max_side: int) -> npt.NDArray[np.uint8]:
        """``(H, W, 3) uint8`` pixels, downscaled so the long side is at most ``max_side``."""
        image = self.image
        if max(image.size) > max_side:
            image = image.copy()
            image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(image, dtype=np.uint8)


def decode(data: bytes, limits: Limits) -> DecodedImage:
    """Decode untrusted bytes, or raise ``ImageRejected``."""
    if not data:
        raise ImageRejected(RejectKind.EMPTY, "The file is empty.")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            RejectKind.TOO_LARGE,
            f"The file has {len(data)} bytes; the limit is {limits.max_bytes}.",
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Something imported face_recognition.api into this process; it must not decide for us.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    opened = _open(data, limits)
    image: Image.Image = opened
    image_format = str(opened.format)
    full_size = opened.size
    try:
        _reduce_while_decoding(opened, limits.max_side)
        # Load before reading EXIF: for PNG, reading EXIF loads the pixels and hides a decoding error.
        image.load()
        display_width, display_height = _displayed_size(image, full_size)
        image = _shrink(image, limits.max_side)
        image = _exif_transposed(image)
        image = _to_rgb(image, limits.max_side)
        if max(image.size) > limits.max_side:
            image.thumbnail((limits.max_side, limits.max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        # Pixels only from here on: comments, text chunks, XMP, EXIF and profiles are the uploader's
        # metadata, and an encoder (the carousel's renditions) would write some of them back out.
        image.info.clear()
    except (ImageRejected, MemoryError):
        raise  # out of memory: the worker's state, not the file's (``app.faces.pool``)
    except Exception as exc:
        # Pillow answers crafted or damaged files with a zoo of exception types; all mean the same.
        raise ImageRejected(
            RejectKind.UNREADABLE, f"The {image_format} image cannot be decoded: {exc}"
        ) from exc
    return DecodedImage(image=image, width=display_width, height=display_height, format=image_format)


def declared_pixels(data: bytes, limits: Limits) -> int:
    """The pixels the image's header declares, without decoding it; raises ``ImageRejected``."""
    return math.prod(_open(data, limits).size)


def _open(data: bytes, limits: Limits) -> ImageFile.ImageFile:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(RejectKind.TOO_LARGE, "The image declares too many pixels.") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            RejectKind.UNSUPPORTED,
            "The file is not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF).",
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageRejected(RejectKind.UNREADABLE, f"The image header cannot be read: {exc}") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(RejectKind.UNREADABLE, "The image declares no pixels.")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            RejectKind.TOO_LARGE,
            f"The image declares {width}x{height} pixels; the limit is {limits.max_pixels} pixels.",
        )
    return image


def _displayed_size(image: Image.Image, full_size: tuple[int, int]) -> tuple[int, int]:
    width, height = full_size
    if _orientation(image) in _TRANSPOSED_ORIENTATIONS:
        return height, width
    return width, height


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1  # a broken EXIF block is ignored, as browsers do


def _reduce_while_decoding(image: ImageFile.ImageFile, max_side: int) -> None:
    # JPEG's DCT decodes directly at 1/2, 1/4 or 1/8 scale: a 12 MP photo never exists at full size.
    if image.format in {"JPEG", "MPO"} and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image.draft("RGB", (round(image.width * scale), round(image.height * scale)))


def _exif_transposed(image: Image.Image) -> Image.Image:
    if _orientation(image) == 1:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Reduce a large image by a whole factor before any mode conversion multiplies its memory."""
    factor = max(image.size) // max_side
    if factor >= 2 and image.mode in _REDUCIBLE_MODES:
        return image.reduce(factor)
    return image


def _to_rgb(image: Image.Image, max_side: int) -> Image.Image:
    if image.mode in _HIGH_BIT_MODES:
        return _high_bit_to_rgb(image, max_side)
    if image.mode == "RGB":
        return image
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info:
        # Transparent areas become white, as the browser shows them on the campaign page.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _high_bit_to_rgb(image: Image.Image, max_side: int) -> Image.Image:
    # Pillow's own conversion clips 16-bit values at 255 instead of scaling them. Large images are
    # sampled down first: a small 16-bit PNG can declare 50 MP, and float copies of that are gigabytes.
    step = max(1, max(image.size) // max_side)
    values = np.asarray(image)[::step, ::step].astype(np.float32)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
