"""The deepfakes a campaign's uploaders make: a politician's face swapped and morphed onto other people.

Calibration (``app.politicians.calibration``) measures each politician against these, so the rule it
writes keeps what the form asks for. Everything is deterministic: the same photos give the same bytes
on a machine (libjpeg, OpenCV and dlib fixed by ``uv.lock``); nothing is random and nothing is stored.

Every face is first *prepared*: its photo cropped to a square ``CROP_FACES`` face widths wide around
the face and scaled so that the face is ``FACE_WIDTH`` px wide, as a phone photo cropped to head and
shoulders. Hosts (the photos faces are pasted onto), strangers and the politician's own photos get the
same preparation, so a distance tells people apart, not photo sizes.

How a deepfake is made, from 68 dlib landmarks on both faces (``(68, 2) float64``, pixels):
- ``swap``: the politician's face (the convex hull of the 68 points: jaw, brows, eyes, nose, mouth)
  is warped triangle by triangle onto the host's landmarks and Poisson-blended into the host photo
  (``cv2.seamlessClone``), the classic landmark face swap. Shape and skin are the host's at the hull's
  edge, the features are the politician's.
- ``morph``: shape and texture blended at ``ratio`` (the politician's share): the politician's
  landmarks are first brought onto the host's by a similarity transform, both faces are warped to the
  blended landmarks, their pixels mixed, and the result Poisson-blended into the host photo.
- ``shared``: a swap as sharing sites pass it on: halved in size and saved again as JPEG quality 70.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "CROP_FACES",
    "FACE_WIDTH",
    "MORPH_RATIOS",
    "Deepfake",
    "Face",
    "Kind",
    "Landmarker",
    "NoFace",
    "Pixels",
    "Points",
    "deepfakes_of",
    "jpeg",
    "morph",
    "prepare",
    "swap",
]

Pixels = npt.NDArray[np.uint8]  # (H, W, 3) RGB
Points = npt.NDArray[np.float64]  # (68, 2) x, y

FACE_WIDTH = 200  # px: a face of a phone photo cropped to the head and shoulders
CROP_FACES = 2.6  # a prepared photo is a square this many face widths wide, around the face
JPEG_QUALITY = 92
SHARED_SCALE = 0.5
SHARED_QUALITY = 70
MORPH_RATIOS = (0.5, 0.65, 0.8)


class Kind(StrEnum):
    SWAP = "swap"
    MORPH = "morph"
    SHARED = "shared"


class NoFace(ValueError):
    """The landmark detector found no face where one was expected."""


@dataclass(frozen=True)
class Face:
    """A prepared photo and the 68 landmarks of its face."""

    pixels: Pixels
    points: Points


@dataclass(frozen=True)
class Deepfake:
    """One generated upload: ``data`` is the JPEG an uploader sends, ``pixels`` what it was made of.

    ``region`` is ``(left, top, right, bottom)`` of the pixels that may differ from the host photo
    (before the ``shared`` kind's downscale); ``ratio`` is the politician's share (1.0 for swaps).
    """

    kind: Kind
    ratio: float
    data: bytes
    pixels: Pixels
    region: tuple[int, int, int, int]

    @property
    def label(self) -> str:
        """The kind, with the morph's ratio: ``swap``, ``morph@0.65``, ``shared``."""
        return f"{self.kind}@{self.ratio:g}" if self.kind is Kind.MORPH else str(self.kind)


def prepare(image: Image.Image, box: tuple[int, int, int, int]) -> Pixels:
    """The square crop around the face ``box`` (``left, top, right, bottom`` in ``image``), scaled
    so that the face is ``FACE_WIDTH`` px wide: ``(H, W, 3) uint8``, read-only."""
    rgb = image.convert("RGB")
    left, top, right, bottom = box
    width = max(1, right - left)
    cx, cy, half = (left + right) / 2, (top + bottom) / 2, CROP_FACES * width / 2
    crop = rgb.crop(
        (
            max(0, round(cx - half)),
            max(0, round(cy - half)),
            min(rgb.width, round(cx + half)),
            min(rgb.height, round(cy + half)),
        )
    )
    scale = FACE_WIDTH / width
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    pixels = np.asarray(crop.resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    pixels.flags.writeable = False
    return pixels


class Landmarker:
    """dlib's HOG detector and 68-point shape predictor (``face_recognition_models``), loaded once.

    Not thread-safe (dlib): one per process.
    """

    def __init__(self) -> None:
        import dlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
            import face_recognition_models as models

        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(models.pose_predictor_model_location())

    def __call__(self, pixels: Pixels) -> Points:
        """The 68 landmarks ``(68, 2) float64`` of the largest face (2x upsampling if needed);
        ``NoFace`` without one."""
        import dlib

        rects = self._detector(pixels, 0) or self._detector(pixels, 1)
        if not rects:
            raise NoFace("no face found to take landmarks from")
        rect = max(rects, key=lambda r: r.width() * r.height())
        shape = self._predictor(pixels, dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom()))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def deepfakes_of(face: Face, host: Face, ratios: tuple[float, ...] = MORPH_RATIOS) -> list[Deepfake]:
    """Every kind of deepfake of ``face`` onto ``host``, in a fixed order: the swap, a morph per
    ratio, the shared swap."""
    swapped, swap_mask = swap(face, host)
    made = [_deepfake(Kind.SWAP, 1.0, swapped, swap_mask)]
    for ratio in ratios:
        made.append(_deepfake(Kind.MORPH, ratio, *morph(face, host, ratio)))
    made.append(_deepfake(Kind.SHARED, 1.0, swapped, swap_mask))
    return made


def _deepfake(kind: Kind, ratio: float, pixels: Pixels, mask: Pixels) -> Deepfake:
    data = jpeg(pixels, JPEG_QUALITY)
    if kind is Kind.SHARED:
        image = Image.fromarray(pixels)
        size = (round(image.width * SHARED_SCALE), round(image.height * SHARED_SCALE))
        data = jpeg(np.asarray(image.resize(size, Image.Resampling.LANCZOS)), SHARED_QUALITY)
    return Deepfake(kind, ratio, data, pixels, _bounds(mask))


def swap(face: Face, host: Face) -> tuple[Pixels, Pixels]:
    """``face`` on the ``host`` photo, and the mask ``(H, W) uint8`` of what changed."""
    warped = _match_lighting(
        _warp(face.pixels, face.points, host.points, host.pixels), host.pixels, host.points
    )
    mask = _hull_mask(host.points, host.pixels.shape)
    return _blend_in(warped, host.pixels, mask), mask


def morph(face: Face, host: Face, ratio: float) -> tuple[Pixels, Pixels]:
    """A face that is ``ratio`` the politician's and ``1 - ratio`` the host's, on the host photo."""
    aligned = _similarity(face.points, host.points)
    target = (1.0 - ratio) * host.points + ratio * aligned
    face_warped = _warp(face.pixels, face.points, target, host.pixels)
    lit = _match_lighting(face_warped, host.pixels, target).astype(np.float64)
    host_warped = _warp(host.pixels, host.points, target, host.pixels).astype(np.float64)
    mixed = np.clip(np.rint(ratio * lit + (1.0 - ratio) * host_warped), 0, 255).astype(np.uint8)
    mask = _hull_mask(target, host.pixels.shape)
    return _blend_in(mixed, host.pixels, mask), mask


def jpeg(pixels: Pixels, quality: int = JPEG_QUALITY) -> bytes:
    """``pixels`` as a JPEG of ``quality``."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _cv2() -> Any:
    """OpenCV, imported when a deepfake is made (only calibration makes them)."""
    import cv2

    return cv2


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
