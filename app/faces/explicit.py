"""Explicit-content detection: NudeNet 3.4's 320n model on the decoded RGB pixels, with onnxruntime.

The model (``nudenet/320n.onnx``, inside the ``nudenet`` wheel: nothing is downloaded) is a YOLOv8n
exported by Ultralytics 8.2.46 (which trains on RGB) for ``(1, 3, 320, 320)`` input in [0, 1]. It
reports 18 labels (``LABELS``): exposed and covered body parts, feet, armpits and faces.
``ExplicitDetector.detect`` finds them on one picture; the verdict's gate (``app.faces.verdict``) says
which of them block it.

How a picture is read, step by step (the same tensor, bit for bit, as NudeNet 3.4.2's
``NudeDetector().detect(rgb_array)``, and the same detections; the tests compare both):
1. The picture is padded with black at the right or the bottom into a square of its long side ``S``,
   resized to 320 x 320 with OpenCV's bilinear ``INTER_LINEAR`` and scaled to [0, 1] floats, RGB planes.
2. The model answers 2100 candidate boxes (centre, width and height in the 320 square) with a score per
   label; each candidate keeps its best label, and those scoring at least 0.2 stay.
3. Their boxes are scaled back by ``S / 320`` and clipped to the picture; OpenCV's non-maximum
   suppression (score 0.25, IoU 0.45; over all labels together, as NudeNet does) keeps the best of
   overlapping boxes. Nothing scoring below 0.25 is ever reported.

Why not ``NudeDetector`` itself: it decides the channel order by two swaps copied from its browser demo
(``COLOR_RGBA2BGR`` then ``swapRB``), so it feeds RGB for an RGB array but BGR for a file path
(``cv2.imread`` reads BGR; NudeNet issue #203: biden.jpg is FACE_MALE from RGB, FACE_FEMALE from its
path); the steps are written out here, with the order explicit.
It is also slower: it pads the whole picture into a square (a 48 MB copy at 12 MP), loops over the 2100
candidates in Python (~20 ms per picture) and runs onnxruntime with its default thread pool.

Importing this module loads nothing: onnxruntime and OpenCV are imported, and the model loaded, when an
``ExplicitDetector`` is made, once in each face worker process.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_EXPLICIT_LABELS",
    "DEFAULT_MIN_SCORE",
    "LABELS",
    "Detection",
    "ExplicitDetector",
    "check_labels",
]

# The model's classes, in the order of its outputs (NudeNet's ``__labels``, the ONNX file's ``names``).
LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
# Sexual nudity: exposed genitalia, female breasts, buttocks and anus. Not MALE_BREAST_EXPOSED or
# BELLY_EXPOSED (a bare-chested man or a swimsuit is no reason to refuse a campaign picture).
DEFAULT_EXPLICIT_LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)
# NudeNet reports from 0.25 up and documents no decision threshold. 0.5 is the score its first v3
# release (3.0.0) reported from; its README's example image scores its exposed breasts and genitalia at
# 0.68 to 0.80; the highest explicit label on the sample photos is a coffee cup's BUTTOCKS_EXPOSED at
# 0.30, so NudeNet's reporting floor would reject it. If an uncertain band is wanted (review, not
# rejection), it lies between 0.25 and 0.5.
DEFAULT_MIN_SCORE = 0.5

INPUT_SIDE = 320  # the model's square input
CANDIDATE_MIN_SCORE = 0.2  # NudeNet's filter of the raw candidates
NMS_MIN_SCORE = 0.25
NMS_MAX_IOU = 0.45
# One thread: facegate runs one face worker process per core, each keeping its core busy. With
# onnxruntime's default pool (a thread per core, spinning while it waits) in every worker, N workers put
# N x N threads on N cores. Measured on 2 shared cores, two workers at once: 11-15 pictures/s with one
# thread each, 5-7 with the default pool; alone, one thread was not slower either (bench/explicit.py).
THREADS = 1

Pixels = npt.NDArray[np.uint8]
XYWH = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class Detection:
    """One thing the model saw: a NudeNet label, its score in [0, 1] and its box.

    ``box`` is ``(x, y, width, height)`` in pixels of the picture given to ``detect`` (left, top, then
    size), clipped to it.
    """

    label: str
    score: float
    box: XYWH

    def scaled(self, factor: float, *, width: int, height: int) -> Detection:
        """The same detection in a ``factor`` times larger copy of the picture, ``width`` x ``height``.

        For a detection made on a downscaled copy (``DecodedImage.pixels(max_side)``), with
        ``factor = displayed width / copy width``: its box in the picture as displayed.
        """
        x, y, w, h = self.box
        left, top = min(width, round(x * factor)), min(height, round(y * factor))
        right, bottom = min(width, round((x + w) * factor)), min(height, round((y + h) * factor))
        return Detection(self.label, self.score, (left, top, right - left, bottom - top))


def check_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """``labels`` if each is one of NudeNet's ``LABELS`` (exact names), else ``ValueError`` naming it."""
    out = tuple(labels)
    for label in out:
        if label not in LABELS:
            raise ValueError(f"{label!r} is not a NudeNet label; the labels are: {', '.join(LABELS)}")
    return out


class ExplicitDetector:
    """NudeNet's 320n model in an onnxruntime session of one thread, loaded once per process.

    Made in each face worker process (a session does not cross processes). ``threads``: onnxruntime's
    intra-op threads; 0 is its default pool (one per core), for comparison in the benchmark.
    """

    def __init__(self, model_path: Path | None = None, *, threads: int = THREADS) -> None:
        import onnxruntime  # type: ignore[import-untyped]

        self.threads = threads
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.model_path = model_path or bundled_model()
        self._session: Any = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name: str = self._session.get_inputs()[0].name

    def detect(self, pixels: Pixels) -> list[Detection]:
        """Everything the model sees on ``(H, W, 3) uint8`` RGB pixels, best score first."""
        tensor = model_input(pixels)
        (output,) = self._session.run(None, {self._input_name: tensor})
        height, width = pixels.shape[:2]
        return detections_of(output[0], width=width, height=height)


def bundled_model() -> Path:
    """The 320n model inside the installed ``nudenet`` package (found without importing it)."""
    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The nudenet package is not installed.")
    path = Path(next(iter(spec.submodule_search_locations))) / "320n.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"NudeNet's model is missing: {path}")
    return path


def model_input(pixels: Pixels) -> npt.NDArray[np.float32]:
    """The model's ``(1, 3, 320, 320) float32`` input for ``(H, W, 3) uint8`` RGB pixels (step 1)."""
    import cv2

    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8 or not pixels.size:
        raise ValueError(f"expected (H, W, 3) uint8 RGB pixels, got {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    side = max(width, height)
    # Black is added as a strip along the short side, not as NudeNet's whole square: resized at the
    # square's scale, output pixel j is read from source pixels floor(x) and floor(x) + 1, with
    # x = (j + 0.5) * S / 320 - 0.5, so the pixels just past the picture's edge are the only padding
    # ever read, and the output beyond the strip is black anyway. The strip is wide enough that the
    # resized strip is at least one pixel (a 1 x 4000 picture). The same tensor as NudeNet's, bit for
    # bit (the tests compare), for a copy of the picture instead of a square (12 MP: ~12 ms, not ~19).
    strip = math.ceil(side / INPUT_SIDE) + 2
    source: npt.NDArray[Any] = np.ascontiguousarray(pixels)
    if width != height:
        bottom, right = (strip, 0) if height < side else (0, strip)
        source = cv2.copyMakeBorder(source, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    scale = INPUT_SIDE / side
    resized = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    square = np.zeros((INPUT_SIDE, INPUT_SIDE, 3), dtype=np.uint8)
    rows, columns = min(INPUT_SIDE, resized.shape[0]), min(INPUT_SIDE, resized.shape[1])
    square[:rows, :columns] = resized[:rows, :columns]
    # As OpenCV's blobFromImage: float32, times 1/255, channels first.
    tensor: npt.NDArray[np.float32] = square.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
    return tensor * np.float32(1 / 255.0)


def detections_of(output: npt.NDArray[np.float32], *, width: int, height: int) -> list[Detection]:
    """Steps 2 and 3 on the model's output for one picture, ``(4 + 18, 2100) float32``."""
    import cv2

    candidates = output.T  # (2100, 22): centre x, centre y, width, height, then a score per label
    label_scores = candidates[:, 4:]
    best = label_scores.argmax(axis=1)
    scores = label_scores[np.arange(len(best)), best]
    keep = scores >= CANDIDATE_MIN_SCORE
    if not keep.any():
        return []
    cx, cy, w, h = (candidates[keep, i] for i in range(4))
    side = max(width, height)
    # In float32 and in NudeNet's order of operations, so that boxes truncate to the same pixels.
    x = np.clip((cx - w / 2) * side / INPUT_SIDE, 0, width)
    y = np.clip((cy - h / 2) * side / INPUT_SIDE, 0, height)
    w = np.minimum(w * side / INPUT_SIDE, width - x)
    h = np.minimum(h * side / INPUT_SIDE, height - y)
    boxes = np.stack([x, y, w, h], axis=1).astype(np.float64)
    kept_scores, kept_labels = scores[keep], best[keep]
    chosen = cv2.dnn.NMSBoxes(boxes.tolist(), kept_scores.tolist(), NMS_MIN_SCORE, NMS_MAX_IOU)
    return [
        Detection(
            label=LABELS[int(kept_labels[i])],
            score=float(kept_scores[i]),
            box=(int(boxes[i, 0]), int(boxes[i, 1]), int(boxes[i, 2]), int(boxes[i, 3])),
        )
        for i in np.asarray(chosen, dtype=np.intp).reshape(-1)
    ]
