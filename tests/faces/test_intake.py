from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile
from PIL.PngImagePlugin import PngInfo

from app.faces.intake import ImageRejected, Limits, RejectKind, decode
from harness.images import encode, exif_rotated, open_sample, png_declaring, sample
from tests.utils.faces import LIMITS


def _kind(data: bytes, limits: Limits = LIMITS) -> RejectKind:
    with pytest.raises(ImageRejected) as info:
        decode(data, limits)
    return info.value.kind


def test_jpeg_is_decoded_to_rgb() -> None:
    decoded = decode(sample("obama.jpg"), LIMITS)
    assert decoded.format == "JPEG"
    assert (decoded.width, decoded.height) == (910, 1137)
    pixels = decoded.pixels(4096)
    assert pixels.dtype == np.uint8 and pixels.shape == (1137, 910, 3)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_formats_recognised_from_content(fmt: str) -> None:
    data = encode(open_sample("obama2.jpg").convert("RGB"), fmt)
    decoded = decode(data, LIMITS)
    assert decoded.format == fmt
    assert decoded.image.mode == "RGB"


def test_heic_is_accepted() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = encode(open_sample("obama2.jpg").convert("RGB").resize((313, 600)), "HEIF")
    assert decode(data, LIMITS).format == "HEIF"


def test_animated_gif_uses_first_frame() -> None:
    first = open_sample("obama2.jpg").convert("RGB").resize((313, 600))
    second = Image.new("RGB", first.size, "red")
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    pixels = decode(data, LIMITS).pixels(1024)
    assert pixels.shape == (600, 313, 3)
    assert not np.all(pixels[..., 0] > 200)  # not the red frame


def test_exif_orientation_is_applied() -> None:
    decoded = decode(exif_rotated("obama2.jpg", 6), LIMITS)
    # obama2.jpg is 626x1200 upright; it is stored 1200x626 and displayed upright again.
    assert (decoded.width, decoded.height) == (626, 1200)
    assert decoded.image.size == (626, 1200)


def test_rgba_transparency_becomes_white() -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    pixels = decode(encode(image, "PNG"), LIMITS).pixels(64)
    assert pixels.min() == 255


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1", "LA"])
def test_every_mode_becomes_8_bit_rgb(mode: str) -> None:
    image = open_sample("obama2.jpg").convert("RGB").resize((160, 300)).convert(mode)
    fmt = "JPEG" if mode in {"L", "CMYK"} else "PNG"
    decoded = decode(encode(image, fmt), LIMITS)
    assert decoded.image.mode == "RGB"


def test_16_bit_png_is_scaled_not_clipped() -> None:
    ramp = (np.linspace(0, 65535, 256 * 64).reshape(64, 256)).astype(np.uint16)
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    pixels = decode(data, LIMITS).pixels(256)
    assert pixels.dtype == np.uint8
    assert pixels[..., 0].min() == 0 and pixels[..., 0].max() == 255
    assert 100 < pixels[32, 128, 0] < 156  # mid-grey stays mid-grey


def test_empty_file() -> None:
    assert _kind(b"") is RejectKind.EMPTY


def test_not_an_image() -> None:
    assert _kind(b"<html><script>alert(1)</script></html>") is RejectKind.UNSUPPORTED
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    assert _kind(svg) is RejectKind.UNSUPPORTED


def test_byte_limit_checked_before_decoding() -> None:
    small = Limits(max_bytes=1000, max_pixels=LIMITS.max_pixels, max_side=2048)
    assert _kind(sample("obama.jpg"), small) is RejectKind.TOO_LARGE


def test_decompression_bomb_refused_from_header() -> None:
    data = png_declaring(60000, 60000)
    assert len(data) < 200
    assert _kind(data) is RejectKind.TOO_LARGE


def test_pixel_limit_below_pillows_own() -> None:
    tight = Limits(max_bytes=LIMITS.max_bytes, max_pixels=100_000, max_side=2048)
    assert _kind(sample("obama.jpg"), tight) is RejectKind.TOO_LARGE


def test_truncated_jpeg_refused() -> None:
    data = sample("obama.jpg")
    assert _kind(data[: len(data) // 2]) is RejectKind.UNREADABLE


def test_truncated_file_refused_even_if_flag_was_turned_on() -> None:
    data = sample("obama.jpg")
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what importing face_recognition.api does
    try:
        assert _kind(data[: len(data) // 2]) is RejectKind.UNREADABLE
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_large_jpeg_decoded_at_reduced_scale() -> None:
    big = open_sample("obama3.jpg").convert("RGB").resize((4032, 3024))
    decoded = decode(encode(big, "JPEG", quality=85), LIMITS)
    assert (decoded.width, decoded.height) == (4032, 3024)
    assert max(decoded.image.size) <= 2048


def test_corrupt_png_body() -> None:
    data = bytearray(encode(open_sample("obama2.jpg").convert("RGB").resize((100, 100)), "PNG"))
    data[60:400] = b"\xff" * 340  # the compressed pixel stream becomes garbage
    assert _kind(bytes(data)) is RejectKind.UNREADABLE


def test_image_bytes_are_a_file_like_only_in_memory() -> None:
    # decode never touches the file system: it works on bytes objects
    decoded = decode(io.BytesIO(sample("obama2.jpg")).getvalue(), LIMITS)
    assert decoded.format == "JPEG"


@pytest.mark.parametrize("mode", ["I;16", "RGBA"])
def test_large_declared_images_are_reduced_before_conversion(mode: str) -> None:
    # A few hundred kilobytes of PNG can declare 49 MP; the decoded copy is bounded by max_side.
    pixels = np.zeros((7000, 7000), dtype=np.uint16) if mode == "I;16" else None
    image = Image.fromarray(pixels) if pixels is not None else Image.new("RGBA", (7000, 7000), (0, 0, 0, 0))
    data = encode(image, "PNG")
    assert len(data) < 300_000
    decoded = decode(data, LIMITS)
    assert (decoded.width, decoded.height) == (7000, 7000)
    assert max(decoded.image.size) <= LIMITS.max_side and decoded.image.mode == "RGB"


SECRET = b"uploader-name GPS 48.85,2.35"


def _with_metadata(fmt: str) -> bytes:
    """A photo carrying the uploader's metadata in the format's own places."""
    image = open_sample("obama2.jpg").convert("RGB")
    if fmt == "JPEG":
        return encode(image, "JPEG", comment=SECRET, icc_profile=SECRET)
    if fmt == "PNG":
        text = PngInfo()
        text.add_text("Author", SECRET.decode())
        text.add_itxt("Comment", SECRET.decode(), zip=True)
        return encode(image, "PNG", pnginfo=text)
    return encode(image, "WEBP", xmp=SECRET, exif=_exif_with(SECRET))


def _exif_with(value: bytes) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = value.decode()  # ImageDescription
    return exif.tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_decoded_images_carry_pixels_only(fmt: str) -> None:
    data = _with_metadata(fmt)
    assert SECRET in data or fmt == "PNG"  # the iTXt copy is compressed
    decoded = decode(data, LIMITS)
    assert decoded.image.info == {}
    out = io.BytesIO()
    decoded.image.save(out, "JPEG")
    assert SECRET not in out.getvalue()
