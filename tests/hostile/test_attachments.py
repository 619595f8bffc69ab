"""Hostile attachments through the moderation service, with the real face workers and a fake NocoDB."""

from __future__ import annotations

import asyncio
import io
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

from app.verification import FaceService
from harness.images import encode, exif_rotated, open_sample, png_declaring, sample
from tests.utils.fake_nocodb import FakeNocoDB
from tests.utils.hostile import MIB, Endless, Server
from tests.utils.moderation import MAX_DOWNLOAD_BYTES, MAX_IMAGES, process_row
from tests.utils.stores import Stores


def _decide(
    faces: FaceService, stores: Stores, data: bytes, politician: str | None = "obama", name: str = "a.jpg"
) -> tuple[str, str, str | None, FakeNocoDB]:
    """Process one row with one attachment; returns the action, the reason, the detail and the fake."""
    fake = FakeNocoDB()
    row = fake.add(1, politician, (name, data))
    action = process_row(httpx.MockTransport(fake.handler), stores, faces, row)
    (decision,) = stores.decisions.decisions()
    return action, decision.reason, decision.detail, fake


def _png_16bit_rgb(image: Image.Image) -> bytes:
    """A 48-bit RGB PNG (Pillow cannot write one), with values spread over the 16-bit range."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint16) * 257
    height, width, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png_16bit_gray(image: Image.Image) -> bytes:
    values = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(values), "PNG")  # mode I;16


def _animated_gif(*names: str) -> bytes:
    frames = []
    for name in names:  # each photo fitted, undistorted, into one white 500x1000 canvas
        photo = open_sample(name).convert("RGB")
        photo.thumbnail((500, 1000))
        canvas = Image.new("RGB", (500, 1000), "white")
        canvas.paste(photo, ((500 - photo.width) // 2, (1000 - photo.height) // 2))
        frames.append(canvas)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def _gif_declaring(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0) + b",\0\0\0\0\1\0\1\0\0\2\2D\1\0;"


def _bmp_declaring(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 12, 0, 0, 54) + info + b"\0" * 12


_HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
_SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<image href="file:///etc/passwd"/><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        pytest.param(b"plain text with an image/jpeg mimetype", "not an image", id="text"),
        pytest.param(_HTML, "not an image", id="html-as-jpeg"),
        pytest.param(_SVG, "not an image", id="svg-as-jpeg"),
        pytest.param(b"\xff\xd8\xff\xe0" + _HTML, "", id="jpeg-magic-then-html"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + _HTML, "", id="png-magic-then-html"),
        pytest.param(b"%PDF-1.7\n" + b"0" * 1000, "not an image", id="pdf"),
        pytest.param(b"PK\x03\x04" + b"\0" * 100, "not an image", id="zip"),
        pytest.param(b"", "empty", id="zero-bytes"),
        pytest.param(b"\0", "not an image", id="one-byte"),
        pytest.param(png_declaring(60000, 60000), "too many pixels", id="png-60000x60000"),
        pytest.param(png_declaring(1, 2**31 - 1), "", id="png-1x2^31"),
        pytest.param(png_declaring(0, 0), "", id="png-0x0"),
        pytest.param(_gif_declaring(65535, 65535), "", id="gif-65535x65535"),
        pytest.param(_bmp_declaring(30000, 30000), "", id="bmp-30000x30000"),
        pytest.param(sample("obama2.jpg")[:5000], "", id="truncated-jpeg"),
    ],
)
def test_what_is_not_a_readable_picture_is_rejected_and_deleted(
    faces: FaceService, stores: Stores, data: bytes, detail: str
) -> None:
    started = time.monotonic()
    action, reason, problem, fake = _decide(faces, stores, data)
    assert (action, reason) == ("deleted", "unreadable_image")
    assert detail.lower() in (problem or "").lower(), problem
    assert 1 not in fake.rows
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("data", "name"),
    [
        pytest.param(
            encode(open_sample("obama2.jpg").convert("CMYK"), "JPEG", quality=92), "obama.jpg", id="cmyk"
        ),
        pytest.param(_png_16bit_gray(open_sample("obama2.jpg")), "obama.png", id="16-bit-gray-png"),
        pytest.param(_png_16bit_rgb(open_sample("obama2.jpg")), "obama.png", id="16-bit-rgb-png"),
        pytest.param(exif_rotated("obama2.jpg", 6), "obama.jpg", id="exif-6"),
        pytest.param(exif_rotated("obama2.jpg", 8), "obama.jpg", id="exif-8"),
        pytest.param(_animated_gif("obama2.jpg", "biden.jpg"), "obama.gif", id="animated-gif-first-frame"),
        pytest.param(sample("obama2_rgba.png"), "obama.jpg", id="png-named-jpeg"),
    ],
)
def test_unusual_encodings_of_a_real_photo_are_approved(
    faces: FaceService, stores: Stores, data: bytes, name: str
) -> None:
    action, reason, problem, fake = _decide(faces, stores, data, name=name)
    assert (action, reason, problem) == ("approved", "match", None)
    assert fake.rows[1]["Status"] == "approved"


def test_animated_gif_is_judged_by_its_first_frame(faces: FaceService, stores: Stores) -> None:
    action, reason, _, _ = _decide(faces, stores, _animated_gif("biden.jpg", "obama2.jpg"))
    assert (action, reason) == ("deleted", "no_match")


def _hundred_mb(server: Server, body: Endless, declared: bool) -> None:
    async def route(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Length": str(100 * MIB)} if declared else {}
        return httpx.Response(200, headers=headers, content=body)

    for path in server.fake.files:
        server.routes["/" + path] = route


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_100mb_attachment_is_refused_by_the_byte_limit(
    faces: FaceService, stores: Stores, declared: bool
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"placeholder"))
    server, body = Server(fake), Endless(limit=100)
    _hundred_mb(server, body, declared)
    started = time.monotonic()
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    assert time.monotonic() - started < 10
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "unreadable_image"
    assert str(MAX_DOWNLOAD_BYTES) in (decision.detail or "")
    # Declared: refused on the header. Chunked: refused once the limit is passed, not at 100 MiB.
    assert body.sent <= (0 if declared else MAX_DOWNLOAD_BYTES // MIB + 2)
    assert 1 not in fake.rows


def test_a_row_with_many_attachments_is_rejected_without_a_download(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", *[(f"{i}.jpg", sample("obama2.jpg")) for i in range(50)])
    server = Server(fake)
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    assert stores.decisions.decisions()[0].reason == "too_many_images"
    assert sum("/download/" in url for url in server.urls) == 0


def test_a_row_stops_at_its_first_bad_picture(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    images = [("bad.jpg", b"junk")] + [(f"{i}.jpg", sample("obama2.jpg")) for i in range(MAX_IMAGES - 1)]
    row = fake.add(1, "obama", *images)
    server = Server(fake)
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    assert stores.decisions.decisions()[0].reason == "unreadable_image"
    assert sum("/download/" in url for url in server.urls) == 1


def test_the_face_workers_still_answer_after_the_hostile_inputs(faces: FaceService) -> None:
    started = time.monotonic()
    checked = asyncio.run(faces.verify_image(sample("obama2.jpg"), "obama", renditions=False))
    verdict, problem = checked.verdict, checked.problem
    assert (verdict.decision, verdict.reason, problem) == ("approved", "match", None)
    assert time.monotonic() - started < 10
