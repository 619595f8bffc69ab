"""Face detection and encoding with dlib, the models of ``face_recognition_models``.

dlib objects are not thread-safe: one ``FaceEngine`` lives in each worker process (``app.faces.pool``).
``face_recognition``'s own API module is not imported here, because importing it turns on Pillow's
``LOAD_TRUNCATED_IMAGES`` for the whole process; the same models are called directly instead.

How a face is counted (the detector runs on a copy whose long side is ``detect_max_side``):
1. HOG detection without upsampling finds faces of about 80 px and more in that copy (about 1/13
   of the long side). If it finds any, those are the faces, and smaller faces are background.
2. Otherwise a second pass with 2x upsampling finds faces down to about 40 px (1/26).
3. In both passes a detection counts only when its score reaches ``min_detection_score``: logos,
   patterns and fabric make weak HOG hits (seen at 0.05), real faces score 0.7 and more.
The work per picture is bounded whatever it shows: both passes run on that copy of at most
``detect_max_side`` pixels a side (the upsampled pass costs about 3.5 times the first), and only a
picture with exactly one face goes further; several faces are ``multiple_faces`` and are not encoded.
The one face is then encoded from the larger ``encode_max_side`` copy, so a small face keeps its detail:
its landmarks (``landmarks``: dlib's 68-point model by default, or its 5-point one) align a
150 x 150 chip, and the ResNet descriptor turns the chip into 128 numbers. The landmarks only align;
they never decide how many faces there are. The 68-point alignment places the chip by the whole face
(jaw, brows, nose, mouth), not by the eye corners and nose tip alone: a politician's face pasted onto
another head (the deepfakes the campaign asks for) comes out nearer the politician, other people do
not (README, "Choosing the review band").
A picture with exactly one face (the only kind that can be approved) then goes through the nudity
detector (``app.faces.explicit``) on that same copy, when the gate is on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.faces.explicit import Detection, ExplicitDetector
from app.faces.intake import DecodedImage
from app.faces.matcher import ENCODING_DIM, Matrix
from app.faces.verdict import Box

FIRST_PASS_UPSAMPLE = 0
SECOND_PASS_UPSAMPLE = 1
NUM_JITTERS = 1  # face_recognition's default; more jitters cost linearly for little gain
# The landmark models that can align a face for the descriptor: dlib's 68-point and 5-point ones.
Landmarks = Literal[68, 5]
DEFAULT_LANDMARKS: Landmarks = 68


@dataclass(frozen=True)
class EngineConfig:
    detect_max_side: int
    encode_max_side: int
    min_detection_score: float
    # The landmark model that aligns each face before it is encoded (68 or 5 points).
    landmarks: Landmarks = DEFAULT_LANDMARKS
    # Run the nudity detector (``FACEGATE_EXPLICIT_LABELS`` not empty); no part of the cache key.
    explicit_gate: bool = False

    def cache_key_fields(self) -> dict[str, Any]:
        """What changes an encoding: part of the reference cache key."""
        import dlib

        return {
            "dlib": dlib.__version__,
            "models": _models_version(),
            "detect_max_side": self.detect_max_side,
            "encode_max_side": self.encode_max_side,
            "min_detection_score": self.min_detection_score,
            "first_pass_upsample": FIRST_PASS_UPSAMPLE,
            "second_pass_upsample": SECOND_PASS_UPSAMPLE,
            "jitters": NUM_JITTERS,
            "landmarks": self.landmarks,
        }


@dataclass(frozen=True)
class FoundFaces:
    """The faces of one image: every counted face's box as displayed; ``encodings`` ``(1, 128) float64``
    for the one face of a one-face picture, ``(0, 128)`` otherwise (several faces are not encoded)."""

    boxes: list[Box]
    encodings: Matrix
    width: int
    height: int
    # The nudity detector's findings, in displayed pixels; empty unless one face was found.
    explicit: list[Detection] = field(default_factory=list)


def landmark_model_location(landmarks: Landmarks) -> str:
    """The path of dlib's ``landmarks``-point shape predictor, from ``face_recognition_models``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models as models

    if landmarks == 68:
        return str(models.pose_predictor_model_location())
    if landmarks == 5:
        return str(models.pose_predictor_five_point_model_location())
    raise ValueError(f"no {landmarks}-point landmark model: 68 or 5")


def _models_version() -> str:
    with warnings.catch_warnings():
        # face_recognition_models imports the deprecated pkg_resources.
        warnings.simplefilter("ignore")
        import face_recognition_models
    return str(getattr(face_recognition_models, "__version__", "unknown"))


class FaceEngine:
    """dlib's HOG detector, a landmark model (68 or 5 points) and ResNet descriptor, loaded once."""

    def __init__(self, config: EngineConfig) -> None:
        import dlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition_models as models

        self.config = config
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(landmark_model_location(config.landmarks))
        self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self._explicit = ExplicitDetector() if config.explicit_gate else None

    def find_faces(self, decoded: DecodedImage) -> FoundFaces:
        """Detect the faces that count (see the module docstring); encode the face of a picture that
        shows exactly one.

        Several faces are ``multiple_faces`` whatever they look like, so they are only counted: a crowd
        of 800 small faces costs its detection (bounded by ``detect_max_side``), not 800 landmarks and
        descriptors (66 s). ``encodings`` is ``(1, 128)`` with one face, ``(0, 128)`` otherwise.
        """
        config = self.config
        work = decoded.pixels(config.encode_max_side)
        detect = (
            decoded.pixels(config.detect_max_side) if max(work.shape[:2]) > config.detect_max_side else work
        )
        rects = self._detect(detect, FIRST_PASS_UPSAMPLE) or self._detect(detect, SECOND_PASS_UPSAMPLE)
        to_display = decoded.width / detect.shape[1]
        boxes = [_display_box(r, to_display, decoded.width, decoded.height) for r in rects]
        if len(rects) != 1:
            return FoundFaces(boxes, np.empty((0, ENCODING_DIM)), decoded.width, decoded.height)
        encodings = self._encode(work, rects[0], scale=work.shape[1] / detect.shape[1])
        found = []
        if self._explicit is not None:
            # Scores move a little with the copy's size: always the same copy, the encoding one.
            scale = decoded.width / work.shape[1]
            found = [
                d.scaled(scale, width=decoded.width, height=decoded.height)
                for d in self._explicit.detect(work)
            ]
        return FoundFaces(boxes, encodings, decoded.width, decoded.height, found)

    def _encode(
        self, work: npt.NDArray[np.uint8], rect: tuple[int, int, int, int], *, scale: float
    ) -> Matrix:
        """The ``(1, 128)`` descriptor of the face at ``rect`` (detection pixels, ``scale`` times smaller
        than ``work``): its landmarks align a chip of ``work``, the ResNet encodes the chip."""
        import dlib

        left, top, right, bottom = (round(v * scale) for v in rect)
        shapes = dlib.full_object_detections()
        shapes.append(self._landmarks(work, dlib.rectangle(left, top, right, bottom)))
        descriptors = self._encoder.compute_face_descriptor(work, shapes, NUM_JITTERS)
        return np.array([np.asarray(d, dtype=np.float64) for d in descriptors]).reshape(-1, ENCODING_DIM)

    def _detect(self, pixels: npt.NDArray[np.uint8], upsample: int) -> list[tuple[int, int, int, int]]:
        """``(left, top, right, bottom)`` of detections scoring at least the threshold."""
        rects, scores, _ = self._detector.run(pixels, upsample, 0.0)
        return [
            (r.left(), r.top(), r.right(), r.bottom())
            for r, score in zip(rects, scores, strict=True)
            if score >= self.config.min_detection_score
        ]


def _display_box(rect: tuple[int, int, int, int], scale: float, width: int, height: int) -> Box:
    left, top, right, bottom = rect
    return Box(
        top=max(0, round(top * scale)),
        right=min(width, round(right * scale)),
        bottom=min(height, round(bottom * scale)),
        left=max(0, round(left * scale)),
    )
