"""The explicit-content detector: NudeNet's real model on the real sample photos.

No explicit picture is downloaded, generated or committed: the blocking path is proven by configuring a
label the model really reports on a portrait (a face).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile

from app.faces.explicit import (
    DEFAULT_EXPLICIT_LABELS,
    DEFAULT_MIN_SCORE,
    LABELS,
    NMS_MIN_SCORE,
    Detection,
    ExplicitDetector,
    bundled_model,
    check_labels,
    model_input,
)
from app.faces.intake import decode
from harness.images import ROOT, SAMPLES, open_sample, sample
from tests.utils.faces import LIMITS

Pixels = npt.NDArray[np.uint8]

# What the model reports on each sample photo, decoded as the face workers decode it (long side at
# most 2048): labels with their scores, rounded. The model calls Obama a woman; it is a nudity
# detector, its face labels are not used for anything but this test's blocking path.
SEEN: dict[str, list[tuple[str, float]]] = {
    "obama.jpg": [("FACE_FEMALE", 0.785)],
    "obama2.jpg": [("FACE_FEMALE", 0.734)],
    "obama3.jpg": [("FACE_FEMALE", 0.655), ("BUTTOCKS_COVERED", 0.435)],
    "obama2_rgba.png": [("FACE_FEMALE", 0.742)],
    "obama_partial_face.jpg": [("FACE_FEMALE", 0.792)],
    "obama_partial_face2.jpg": [("FACE_FEMALE", 0.684)],
    "biden.jpg": [("FACE_MALE", 0.524)],
    "astronaut.png": [("FACE_FEMALE", 0.811)],
    "cat.png": [],
    "coffee.png": [("BUTTOCKS_EXPOSED", 0.296)],
    "logo.png": [],
    "rocket.jpg": [],
}
PORTRAITS = [name for name, seen in SEEN.items() if any(label.startswith("FACE_") for label, _ in seen)]
FACE_LABELS = ("FACE_FEMALE", "FACE_MALE")


@pytest.fixture(scope="module")
def detector() -> ExplicitDetector:
    """One detector for the module (the app makes one in each face worker process)."""
    return ExplicitDetector()


@pytest.fixture(scope="module")
def nudenet() -> Any:
    """NudeNet's own detector, the reference."""
    from nudenet import NudeDetector  # type: ignore[import-untyped]

    return NudeDetector()


def decoded_pixels(name: str) -> Pixels:
    """The pixels a face worker has for a sample photo."""
    return decode(sample(name), LIMITS).pixels(LIMITS.max_side)


def blockers(
    detections: Iterable[Detection],
    labels: Iterable[str] = DEFAULT_EXPLICIT_LABELS,
    min_score: float = DEFAULT_MIN_SCORE,
) -> list[Detection]:
    """The detections a gate of ``labels`` at ``min_score`` blocks on (the verdict's rule)."""
    chosen = set(labels)
    return [d for d in detections if d.label in chosen and d.score >= min_score]


def summary(detections: list[Detection]) -> list[tuple[str, float]]:
    return [(d.label, round(d.score, 3)) for d in detections]


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, width, height)`` boxes."""
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def inside(box: tuple[int, int, int, int], pixels: Pixels) -> bool:
    x, y, w, h = box
    return min(x, y) >= 0 and min(w, h) > 0 and x + w <= pixels.shape[1] and y + h <= pixels.shape[0]


# (a) No false positive on the sample photos.


@pytest.mark.parametrize("name", list(SEEN))
def test_no_sample_photo_is_blocked_with_the_defaults(detector: ExplicitDetector, name: str) -> None:
    pixels = decoded_pixels(name)
    detections = detector.detect(pixels)
    assert blockers(detections, DEFAULT_EXPLICIT_LABELS, DEFAULT_MIN_SCORE) == []
    assert [label for label, _ in summary(detections)] == [label for label, _ in SEEN[name]]
    for detection, (_, score) in zip(detections, SEEN[name], strict=True):
        assert detection.score == pytest.approx(score, abs=0.002)
        assert inside(detection.box, pixels)


def test_the_closest_call_is_well_below_the_default_score(detector: ExplicitDetector) -> None:
    # The only explicit label on any sample: a coffee cup's rim read as buttocks, at 0.30 (NudeNet
    # reports from 0.25). A score threshold at NudeNet's reporting floor would block a coffee cup.
    detections = detector.detect(decoded_pixels("coffee.png"))
    assert summary(detections) == [("BUTTOCKS_EXPOSED", 0.296)]
    assert blockers(detections, DEFAULT_EXPLICIT_LABELS, NMS_MIN_SCORE) == detections
    assert blockers(detections, DEFAULT_EXPLICIT_LABELS, DEFAULT_MIN_SCORE) == []


# (b) The blocking path, with a label the model really reports.


def _dlib_faces(pixels: Pixels) -> list[tuple[int, int, int, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    # Importing face_recognition.api turns this on for the process; the intake must not inherit it.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    locations = face_recognition.face_locations(pixels)
    return [(left, top, right - left, bottom - top) for top, right, bottom, left in locations]


def test_a_configured_label_blocks_with_its_box(detector: ExplicitDetector) -> None:
    pixels = decoded_pixels("obama.jpg")
    detections = detector.detect(pixels)
    assert blockers(detections, DEFAULT_EXPLICIT_LABELS, DEFAULT_MIN_SCORE) == []

    blocking = blockers(detections, check_labels(["FACE_FEMALE"]), DEFAULT_MIN_SCORE)

    assert len(blocking) == 1
    (face,) = blocking
    assert face.label == "FACE_FEMALE" and face.score >= DEFAULT_MIN_SCORE
    assert inside(face.box, pixels)
    (dlib_box,) = _dlib_faces(pixels)
    assert iou(face.box, dlib_box) > 0.7, (face.box, dlib_box)
    # The same detection under a stricter score does not block.
    assert blockers(detections, ["FACE_FEMALE"], face.score + 0.01) == []


@pytest.mark.parametrize("name", PORTRAITS)
def test_each_portrait_is_blocked_by_a_face_label(detector: ExplicitDetector, name: str) -> None:
    pixels = decoded_pixels(name)
    blocking = blockers(detector.detect(pixels), FACE_LABELS, DEFAULT_MIN_SCORE)
    assert len(blocking) == 1
    assert inside(blocking[0].box, pixels)
    # dlib may also find a weak "face" elsewhere (astronaut.png's suit): the best overlap counts.
    assert max(iou(blocking[0].box, box) for box in _dlib_faces(pixels)) > 0.5


# (c) The same detections as NudeNet 3.4.2.


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg", "obama3.jpg", "astronaut.png", "coffee.png"])
def test_same_detections_as_nudenet_on_the_same_pixels(
    detector: ExplicitDetector, nudenet: Any, name: str
) -> None:
    pixels = decoded_pixels(name)
    ours = detector.detect(pixels)
    theirs = nudenet.detect(pixels)
    assert [d.label for d in ours] == [t["class"] for t in theirs]
    for d, t in zip(ours, theirs, strict=True):
        assert d.score == pytest.approx(t["score"], abs=1e-4)
        assert np.abs(np.subtract(d.box, t["box"])).max() <= 1


def test_nudenet_reads_a_file_path_with_red_and_blue_swapped(
    detector: ExplicitDetector, nudenet: Any
) -> None:
    # NudeDetector.detect(path): cv2.imread's BGR, then COLOR_RGBA2BGR and swapRB (two swaps meant for
    # RGBA from a browser canvas) feed the model BGR. Ultralytics trained it on RGB: facegate feeds RGB.
    # The rest of the pipeline is the same: ours on the swapped pixels is NudeNet on the path.
    path = SAMPLES / "biden.jpg"
    pixels = np.asarray(Image.open(path).convert("RGB"))
    from_path = nudenet.detect(str(path))
    swapped = detector.detect(np.ascontiguousarray(pixels[:, :, ::-1]))
    assert [(t["class"], round(t["score"], 4), t["box"]) for t in from_path] == [
        (d.label, round(d.score, 4), list(d.box)) for d in swapped
    ]
    assert summary(detector.detect(pixels)) == [("FACE_MALE", 0.552)]
    assert [t["class"] for t in from_path] == ["FACE_FEMALE"]


@pytest.mark.parametrize(
    ("height", "width"),
    [
        (1, 1),
        (2, 2),
        (5, 300),
        (300, 5),
        (1, 4000),
        (4000, 1),
        (319, 1000),
        (321, 320),
        (641, 17),
        (777, 777),
    ],
)
def test_model_input_is_nudenets_tensor_bit_for_bit(height: int, width: int) -> None:
    from nudenet import nudenet

    pixels = np.random.default_rng(height * 10_000 + width).integers(0, 256, (height, width, 3), np.uint8)
    ours = model_input(pixels)
    theirs = nudenet._read_image(pixels, 320)[0]
    assert ours.dtype == np.float32 and ours.shape == (1, 3, 320, 320)
    np.testing.assert_array_equal(ours, theirs)


def test_model_input_of_sample_photos_is_nudenets_tensor() -> None:
    from nudenet import nudenet

    for name in ("obama.jpg", "biden.jpg", "cat.png"):
        pixels = decoded_pixels(name)
        np.testing.assert_array_equal(model_input(pixels), nudenet._read_image(pixels, 320)[0])


def test_labels_are_the_models_and_nudenets() -> None:
    import onnxruntime  # type: ignore[import-untyped]
    from nudenet import nudenet

    assert list(LABELS) == nudenet.__labels
    session = onnxruntime.InferenceSession(str(bundled_model()), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["names"] == str(dict(enumerate(LABELS)))
    assert metadata["imgsz"] == "[320, 320]" and metadata["author"] == "Ultralytics"
    assert len(LABELS) == len(set(LABELS)) == 18
    assert set(DEFAULT_EXPLICIT_LABELS) <= set(LABELS)


# (d) Input handling.


@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 300), (300, 5), (2, 4000)])
def test_tiny_and_thin_pictures(detector: ExplicitDetector, height: int, width: int) -> None:
    pixels = np.asarray(open_sample("obama.jpg").convert("RGB").resize((width, height)))
    for detection in detector.detect(pixels):
        assert inside(detection.box, pixels)


def test_a_12_megapixel_picture(detector: ExplicitDetector) -> None:
    pixels = np.asarray(
        open_sample("obama.jpg").convert("RGB").resize((3099, 3872), Image.Resampling.BILINEAR)
    )
    detections = detector.detect(pixels)
    assert summary(detections)[0][0] == "FACE_FEMALE"
    assert blockers(detections) == []
    # The face box scales with the picture: obama.jpg is 910 x 1137.
    small = detector.detect(decoded_pixels("obama.jpg"))[0]
    scale = 3099 / 910
    assert np.abs(np.subtract(detections[0].box, np.multiply(small.box, scale))).max() < 0.05 * 3099


def test_views_and_copies_give_the_same_detections(detector: ExplicitDetector) -> None:
    pixels = decoded_pixels("obama2.jpg")
    padded = np.zeros((pixels.shape[0], pixels.shape[1], 4), np.uint8)
    padded[:, :, :3] = pixels
    view = padded[:, :, :3]  # not contiguous
    assert not view.flags.c_contiguous
    assert detector.detect(view) == detector.detect(pixels)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
    ],
    ids=["grayscale", "rgba", "float", "empty"],
)
def test_anything_but_rgb_bytes_is_refused(detector: ExplicitDetector, pixels: Any) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        detector.detect(pixels)


# The pure parts.


def test_check_labels_names_the_unknown_label() -> None:
    assert check_labels(["ANUS_EXPOSED", "FACE_MALE"]) == ("ANUS_EXPOSED", "FACE_MALE")
    assert check_labels(DEFAULT_EXPLICIT_LABELS) == DEFAULT_EXPLICIT_LABELS
    assert check_labels([]) == ()
    for wrong in ("anus_exposed", "GENITALIA_EXPOSED", " ANUS_EXPOSED", ""):
        with pytest.raises(ValueError, match=repr(wrong)):
            check_labels(["ANUS_EXPOSED", wrong])


def test_scaled_boxes_map_a_copy_to_the_displayed_picture(detector: ExplicitDetector) -> None:
    decoded = decode(sample("obama2.jpg"), LIMITS)
    full = detector.detect(decoded.pixels(2048))[0]
    copy = decoded.pixels(640)
    scaled = detector.detect(copy)[0].scaled(
        decoded.width / copy.shape[1], width=decoded.width, height=decoded.height
    )
    assert scaled.label == full.label
    assert np.abs(np.subtract(scaled.box, full.box)).max() <= 10
    edge = Detection("FACE_MALE", 0.9, (90, 40, 10, 10)).scaled(2.0, width=195, height=100)
    assert edge.box == (180, 80, 15, 20)


def test_detections_cross_process_boundaries() -> None:
    detection = Detection("FACE_MALE", 0.5, (1, 2, 3, 4))
    assert pickle.loads(pickle.dumps(detection)) == detection


def test_importing_the_module_loads_no_model_runtime() -> None:
    code = (
        "import sys, app.faces.explicit; print(sorted({'onnxruntime', 'cv2', 'nudenet'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_one_onnxruntime_thread(detector: ExplicitDetector) -> None:
    assert detector.threads == 1
    assert detector._session.get_session_options().intra_op_num_threads == 1
