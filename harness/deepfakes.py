"""A deterministic deepfake set: each politician's face swapped and morphed onto other people's photos.

Made at test and bench time from the downloaded samples (``scripts/fetch_samples.py``); nothing is
stored. No randomness: the same photos give the same bytes on a machine (libjpeg, OpenCV and dlib
fixed by ``uv.lock``).

How a deepfake is made, from 68 dlib landmarks on both faces (``(68, 2) float64``, pixels):
- ``swap``: the politician's face (the convex hull of the 68 points: jaw, brows, eyes, nose, mouth)
  is warped triangle by triangle onto the host's landmarks and Poisson-blended into the host photo
  (``cv2.seamlessClone``), the classic landmark face swap. Shape and skin are the host's at the hull's
  edge, the features are the politician's.
- ``morph``: shape and texture blended at ``ratio`` (the politician's share): the politician's
  landmarks are first brought onto the host's by a similarity transform, both faces are warped to the
  blended landmarks, their pixels mixed, and the result Poisson-blended into the host photo.
- ``shared``: a swap as sharing sites pass it on: halved in size and saved again as JPEG quality 70.

People's photos are cropped around one face and scaled so that face is ``FACE_WIDTH`` px wide: the
same preparation for hosts (the photos faces are pasted onto) and strangers (other people, never
used as hosts), so a distance tells people apart, not photo sizes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from harness.images import open_sample

__all__ = [
    "FACE_WIDTH",
    "MORPH_RATIOS",
    "PEOPLE",
    "POLITICIAN_PHOTOS",
    "Deepfake",
    "Kind",
    "Person",
    "deepfakes",
    "landmarks",
    "person_jpeg",
    "person_pixels",
]

Pixels = npt.NDArray[np.uint8]  # (H, W, 3) RGB
Points = npt.NDArray[np.float64]  # (68, 2) x, y

FACE_WIDTH = 200  # px: a face of a phone photo cropped to the head and shoulders
CROP_FACES = 2.6  # a person's crop is a square this many face widths wide, around the face
JPEG_QUALITY = 92
SHARED_SCALE = 0.5
SHARED_QUALITY = 70
MORPH_RATIOS = (0.5, 0.65, 0.8)
# Each politician's sample photos that faces are taken from; the reference photos are among them
# because uploaders paste the official portraits too (the bench reports both apart).
POLITICIAN_PHOTOS: dict[str, tuple[str, ...]] = {
    "obama": ("obama2.jpg", "obama.jpg", "obama3.jpg"),
    "biden": ("biden.jpg",),
}


class Kind(StrEnum):
    SWAP = "swap"
    MORPH = "morph"
    SHARED = "shared"


@dataclass(frozen=True)
class Person:
    """One person of a sample photo: the face box ``(left, top, width)`` found by facegate's engine."""

    name: str
    photo: str
    face: tuple[int, int, int]
    host: bool


PEOPLE: tuple[Person, ...] = (
    Person("astronaut", "astronaut.png", (179, 83, 87), host=True),
    Person("breakingbad", "people/breakingbad.jpg", (615, 225, 233), host=True),
    Person("takeo", "people/takeo.ppm", (31, 65, 104), host=True),
    Person("t1_a", "people/t1.jpg", (68, 284, 108), host=True),
    Person("t1_c", "people/t1.jpg", (452, 296, 108), host=True),
    Person("t1_d", "people/t1.jpg", (728, 368, 108), host=True),
    # Strangers. t1_e turns his head: a frontal face warped onto it is no face to dlib (a failed
    # swap, not a deepfake), so he is never a host.
    Person("t1_b", "people/t1.jpg", (266, 176, 90), host=False),
    Person("t1_e", "people/t1.jpg", (884, 80, 107), host=False),
    Person("t1_f", "people/t1.jpg", (1111, 284, 109), host=False),
    Person("tom_hanks", "people/tom_hanks.png", (16, 26, 86), host=False),
    Person("tongue", "people/tongue.jpg", (56, 199, 642), host=False),
)


@dataclass(frozen=True)
class Deepfake:
    """One generated upload: ``data`` is the JPEG, ``pixels`` what was encoded.

    ``region`` is ``(left, top, right, bottom)`` of the pixels that may differ from the host photo
    (before the ``shared`` kind's downscale); ``ratio`` is the politician's share (1.0 for swaps).
    """

    kind: Kind
    politician: str
    source: str
    host: str
    ratio: float
    data: bytes
    pixels: Pixels
    region: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        ratio = f"@{self.ratio:g}" if self.kind is Kind.MORPH else ""
        return f"{self.kind}{ratio}:{self.source}->{self.host}"


def _cv2() -> Any:
    import cv2

    return cv2


@cache
def _dlib_models() -> tuple[Any, Any]:
    import warnings

    import dlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import face_recognition_models as models

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(models.pose_predictor_model_location())


def landmarks(pixels: Pixels) -> Points:
    """dlib's 68 landmarks ``(68, 2) float64`` of the largest face (HOG; 2x upsampling if needed)."""
    import dlib

    detector, predictor = _dlib_models()
    rects = detector(pixels, 0) or detector(pixels, 1)
    if not rects:
        raise ValueError("no face found to take landmarks from")
    rect = max(rects, key=lambda r: r.width() * r.height())
    shape = predictor(pixels, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


@cache
def person_pixels(name: str) -> Pixels:
    """A person's prepared photo: a square crop around the face, scaled to a ``FACE_WIDTH`` face."""
    person = next(p for p in PEOPLE if p.name == name)
    image = open_sample(person.photo).convert("RGB")
    left, top, width = person.face
    cx, cy, half = left + width / 2, top + width / 2, CROP_FACES * width / 2
    box = (
        max(0, round(cx - half)),
        max(0, round(cy - half)),
        min(image.width, round(cx + half)),
        min(image.height, round(cy + half)),
    )
    scale = FACE_WIDTH / width
    crop = image.crop(box)
    size = (round(crop.width * scale), round(crop.height * scale))
    pixels = np.asarray(crop.resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    pixels.flags.writeable = False
    return pixels


def person_jpeg(name: str) -> bytes:
    """A person's prepared photo as the JPEG an uploader would send (the deepfakes' quality)."""
    return _jpeg(person_pixels(name), JPEG_QUALITY)


@cache
def _politician(photo: str) -> tuple[Pixels, Points]:
    pixels = np.asarray(open_sample(photo).convert("RGB"), dtype=np.uint8)
    pixels.flags.writeable = False
    return pixels, landmarks(pixels)


@cache
def _host(name: str) -> tuple[Pixels, Points]:
    pixels = person_pixels(name)
    return pixels, landmarks(pixels)


def deepfakes(
    politicians: Sequence[str] = tuple(POLITICIAN_PHOTOS),
    hosts: Sequence[str] | None = None,
    ratios: Sequence[float] = MORPH_RATIOS,
) -> Iterator[Deepfake]:
    """Every kind of deepfake of every politician's photos onto every host, in a fixed order."""
    hosts = [p.name for p in PEOPLE if p.host] if hosts is None else hosts
    for slug in politicians:
        for source in POLITICIAN_PHOTOS[slug]:
            face, face_points = _politician(source)
            for host in hosts:
                host_pixels, host_points = _host(host)

                def made(kind: Kind, ratio: float, pixels: Pixels, mask: Pixels) -> Deepfake:
                    data = _jpeg(pixels, JPEG_QUALITY)
                    if kind is Kind.SHARED:
                        image = Image.fromarray(pixels)
                        size = (round(image.width * SHARED_SCALE), round(image.height * SHARED_SCALE))
                        data = _jpeg(np.asarray(image.resize(size, Image.Resampling.LANCZOS)), SHARED_QUALITY)
                    return Deepfake(kind, slug, source, host, ratio, data, pixels, _bounds(mask))  # noqa: B023

                swapped, mask = swap(face, face_points, host_pixels, host_points)
                yield made(Kind.SWAP, 1.0, swapped, mask)
                for ratio in ratios:
                    yield made(Kind.MORPH, ratio, *morph(face, face_points, host_pixels, host_points, ratio))
                yield made(Kind.SHARED, 1.0, swapped, mask)


def swap(face: Pixels, face_points: Points, host: Pixels, host_points: Points) -> tuple[Pixels, Pixels]:
    """The politician's ``face`` on the ``host`` photo, and the mask ``(H, W) uint8`` of what changed."""
    warped = _match_lighting(_warp(face, face_points, host_points, host), host, host_points)
    mask = _hull_mask(host_points, host.shape)
    return _blend_in(warped, host, mask), mask


def morph(
    face: Pixels, face_points: Points, host: Pixels, host_points: Points, ratio: float
) -> tuple[Pixels, Pixels]:
    """A face that is ``ratio`` the politician's and ``1 - ratio`` the host's, on the host photo."""
    aligned = _similarity(face_points, host_points)
    target = (1.0 - ratio) * host_points + ratio * aligned
    face_warped = _match_lighting(_warp(face, face_points, target, host), host, target).astype(np.float64)
    host_warped = _warp(host, host_points, target, host).astype(np.float64)
    mixed = np.clip(np.rint(ratio * face_warped + (1.0 - ratio) * host_warped), 0, 255).astype(np.uint8)
    mask = _hull_mask(target, host.shape)
    return _blend_in(mixed, host, mask), mask


def _similarity(source: Points, target: Points) -> Points:
    """``source`` moved by the rotation, uniform scale and shift that best fits it to ``target``
    (least squares, Umeyama), so only the shape of the face differs."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / (s**2).sum())
    moved: Points = scale * s @ rotation.T + mu_t
    return moved


def _triangles(points: Points, shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Delaunay triangles of ``points`` as index triples, in OpenCV's order."""
    cv2 = _cv2()
    height, width = shape[:2]
    subdiv = cv2.Subdiv2D((0, 0, width, height))
    clipped = np.clip(points, 0, [width - 1, height - 1])
    for x, y in clipped:
        subdiv.insert((float(x), float(y)))
    corners = np.asarray(subdiv.getTriangleList(), dtype=np.float64).reshape(-1, 3, 1, 2)
    # Subdiv2D returns coordinates; each is one of the points (or of its outer frame, left out).
    gaps = np.abs(corners - clipped[None, None, :, :]).sum(axis=-1)
    nearest = gaps.argmin(axis=-1)
    exact = np.take_along_axis(gaps, nearest[..., None], axis=-1)[..., 0] < 1e-3
    keep = exact.all(axis=1) & (nearest[:, 0] != nearest[:, 1]) & (nearest[:, 1] != nearest[:, 2])
    keep &= nearest[:, 0] != nearest[:, 2]
    return [(int(a), int(b), int(c)) for a, b, c in nearest[keep]]


def _warp(source: Pixels, source_points: Points, target_points: Points, canvas: Pixels) -> Pixels:
    """``canvas`` with the hull of ``target_points`` filled from ``source``, piecewise affine.

    Each target pixel is labelled with its Delaunay triangle (edges drawn too, so neighbours leave no
    seam), mapped back by that triangle's affine transform, and sampled once (``cv2.remap``).
    """
    cv2 = _cv2()
    triangles = _triangles(target_points, canvas.shape)
    label = np.full(canvas.shape[:2], -1, dtype=np.int32)
    inverse = np.empty((len(triangles), 2, 3), dtype=np.float64)
    for i, tri in enumerate(triangles):
        corners = np.rint(target_points[list(tri)]).astype(np.int32)
        cv2.fillConvexPoly(label, corners, i, cv2.LINE_8)
        cv2.polylines(label, [corners], True, i, 1, cv2.LINE_8)
        inverse[i] = cv2.getAffineTransform(
            target_points[list(tri)].astype(np.float32), source_points[list(tri)].astype(np.float32)
        )
    ys, xs = np.nonzero(label >= 0)
    affine = inverse[label[ys, xs]]
    map_x = np.zeros(canvas.shape[:2], dtype=np.float32)
    map_y = np.zeros(canvas.shape[:2], dtype=np.float32)
    map_x[ys, xs] = affine[:, 0, 0] * xs + affine[:, 0, 1] * ys + affine[:, 0, 2]
    map_y[ys, xs] = affine[:, 1, 0] * xs + affine[:, 1, 1] * ys + affine[:, 1, 2]
    warped = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    out = canvas.copy()
    out[ys, xs] = warped[ys, xs]
    return out


def _match_lighting(face: Pixels, host: Pixels, points: Points) -> Pixels:
    """``face`` with the host's colour and light: each pixel scaled by the ratio of the two images'
    Gaussian blurs (about 0.6 of the eye distance wide), as classic swap scripts do before blending."""
    cv2 = _cv2()
    eyes = float(np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0)))
    kernel = 2 * round(0.3 * eyes) + 1
    host_light = cv2.GaussianBlur(host, (kernel, kernel), 0).astype(np.float64)
    face_light = cv2.GaussianBlur(face, (kernel, kernel), 0).astype(np.float64)
    ratio = host_light / np.maximum(face_light, 1.0)
    lit: Pixels = np.clip(np.rint(face.astype(np.float64) * ratio), 0, 255).astype(np.uint8)
    return lit


def _hull_mask(points: Points, shape: tuple[int, ...]) -> Pixels:
    """The convex hull of ``points``, eroded 2 px, as a ``(H, W) uint8`` mask of 0 and 255."""
    cv2 = _cv2()
    mask = np.zeros(shape[:2], dtype=np.uint8)
    hull = cv2.convexHull(np.rint(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_8)
    eroded: Pixels = cv2.erode(mask, np.ones((5, 5), np.uint8))
    return eroded


def _blend_in(face: Pixels, host: Pixels, mask: Pixels) -> Pixels:
    """``face`` Poisson-blended into ``host`` where ``mask`` is set (both in the host's frame)."""
    cv2 = _cv2()
    x, y, w, h = cv2.boundingRect(mask)
    # seamlessClone centres the mask's bounding box on this point: its own centre keeps the frames aligned.
    blended: Pixels = cv2.seamlessClone(face, host, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    return blended


def _bounds(mask: Pixels) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _jpeg(pixels: Pixels, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()
