"""Test pictures made from the downloaded sample photos (never committed; see scripts/fetch_samples.py)."""

from __future__ import annotations

import io
import struct
import tomllib
import zlib

from PIL import Image

from harness import ROOT

__all__ = [
    "ROOT",
    "SAMPLES",
    "box_overlap",
    "crowd",
    "demo_rule",
    "encode",
    "exif_rotated",
    "open_sample",
    "png_declaring",
    "sample",
    "side_by_side",
]

SAMPLES = ROOT / ".samples"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python3 scripts/fetch_samples.py` first")
    return path.read_bytes()


def open_sample(name: str) -> Image.Image:
    return Image.open(io.BytesIO(sample(name)))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def exif_rotated(name: str, orientation: int = 6) -> bytes:
    """A JPEG stored sideways with an EXIF Orientation tag, as phones write them; displays upright."""
    upright = open_sample(name).convert("RGB")
    stored = {
        6: upright.transpose(Image.Transpose.ROTATE_90),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def side_by_side(*names: str, height: int = 600) -> bytes:
    """Several sample faces pasted next to each other: a picture with several faces."""
    parts = []
    for name in names:
        image = open_sample(name).convert("RGB")
        parts.append(image.resize((round(image.width * height / image.height), height)))
    canvas = Image.new("RGB", (sum(p.width for p in parts), height), "white")
    x = 0
    for part in parts:
        canvas.paste(part, (x, 0))
        x += part.width
    return encode(canvas, "JPEG", quality=90)


# The face in obama2.jpg (626 x 1200), as dlib boxes it, with a tenth of its width around it.
OBAMA2_FACE = (129, 264, 492, 627)


def crowd(tiles: int = 31, face_px: int = 33, quality: int = 90) -> bytes:
    """A crowd picture: ``tiles`` x ``tiles`` copies of one face of ``face_px`` pixels, as a JPEG.

    The red team's picture (31 x 31 faces of 33 px, about 600 KiB): too small for the detector's
    first pass, so the upsampled second pass finds hundreds of faces in it.
    """
    face = open_sample("obama2.jpg").convert("RGB").crop(OBAMA2_FACE).resize((face_px, face_px))
    canvas = Image.new("RGB", (face_px * tiles, face_px * tiles))
    for row in range(tiles):
        for column in range(tiles):
            canvas.paste(face, (column * face_px, row * face_px))
    return encode(canvas, "JPEG", quality=quality)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # A few bytes of a deflate stream; decoding would need width * height * 3 bytes.
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def demo_rule(slug: str) -> tuple[float, float]:
    """``(tolerance, review_band)`` of a demo politician's ``profile.toml``, as calibration wrote it:
    tests read it rather than copy numbers that each recalibration moves."""
    profile = tomllib.loads((ROOT / "reference_faces" / slug / "profile.toml").read_text())
    return float(profile["tolerance"]), float(profile["review_band"])


def box_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(left, top, right, bottom)`` boxes (0 for empty ones)."""
    left, top, right, bottom = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
