from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from app.faces.engine import FaceEngine
from app.faces.intake import decode
from harness.images import crowd, encode, exif_rotated, open_sample, sample, side_by_side
from tests.utils.faces import LIMITS


@pytest.mark.parametrize(
    ("name", "faces"),
    [
        ("obama.jpg", 1),
        ("obama2.jpg", 1),
        ("obama3.jpg", 1),
        ("biden.jpg", 1),
        ("obama_partial_face.jpg", 1),
        ("astronaut.png", 1),
        ("cat.png", 0),
        ("coffee.png", 0),
        ("rocket.jpg", 0),
        ("logo.png", 0),
    ],
)
def test_face_count_on_real_photos(engine: FaceEngine, name: str, faces: int) -> None:
    found = engine.find_faces(decode(sample(name), LIMITS))
    assert len(found.boxes) == faces
    assert found.encodings.shape == (faces, 128)


def test_weak_false_detection_does_not_count(engine: FaceEngine) -> None:
    # At dlib's default threshold (0) the astronaut photo has a second "face" on the suit (score 0.05).
    import dlib

    pixels = decode(sample("astronaut.png"), LIMITS).pixels(1024)
    _, scores, _ = dlib.get_frontal_face_detector().run(pixels, 1, 0.0)
    assert len(scores) == 2 and min(scores) < engine.config.min_detection_score
    assert len(engine.find_faces(decode(sample("astronaut.png"), LIMITS)).boxes) == 1


def test_two_pasted_faces_are_two(engine: FaceEngine) -> None:
    found = engine.find_faces(decode(side_by_side("obama2.jpg", "biden.jpg"), LIMITS))
    assert len(found.boxes) == 2
    assert found.boxes[0].left != found.boxes[1].left
    assert found.encodings.shape == (0, 128)  # several faces are multiple_faces: none is encoded


def test_a_crowd_picture_is_counted_not_encoded(engine: FaceEngine) -> None:
    # 31 x 31 faces of 33 px: the upsampled second pass finds hundreds. Encoding each took 66 to
    # 190 s; counting them costs the detection alone.
    data = crowd(tiles=31, face_px=33)
    assert len(data) < 1024 * 1024  # an ordinary upload by its size
    started = time.perf_counter()
    found = engine.find_faces(decode(data, LIMITS))
    elapsed = time.perf_counter() - started
    assert len(found.boxes) > 100
    assert found.encodings.shape == (0, 128)
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_a_huge_crowd_picture_costs_no_more_than_its_detection_copy(engine: FaceEngine) -> None:
    # 49 MP, within the pixel limit: decoded at a reduced scale, detected on the 1024 px copy.
    big = Image.open(io.BytesIO(crowd())).resize((7000, 7000))
    started = time.perf_counter()
    found = engine.find_faces(decode(encode(big, "JPEG", quality=80), LIMITS))
    elapsed = time.perf_counter() - started
    assert len(found.boxes) > 100 and found.encodings.shape == (0, 128)
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_boxes_are_in_displayed_coordinates(engine: FaceEngine) -> None:
    upright = engine.find_faces(decode(sample("obama2.jpg"), LIMITS)).boxes[0]
    rotated = engine.find_faces(decode(exif_rotated("obama2.jpg", 6), LIMITS))
    assert len(rotated.boxes) == 1
    box = rotated.boxes[0]
    assert (rotated.width, rotated.height) == (626, 1200)
    for a, b in [(box.top, upright.top), (box.left, upright.left), (box.bottom, upright.bottom)]:
        assert abs(a - b) <= 12


def test_boxes_of_a_downscaled_photo_map_back_to_full_size(engine: FaceEngine) -> None:
    base = engine.find_faces(decode(sample("obama.jpg"), LIMITS)).boxes[0]
    big = open_sample("obama.jpg").resize((910 * 4, 1137 * 4))
    found = engine.find_faces(decode(encode(big, "JPEG", quality=90), LIMITS))
    assert (found.width, found.height) == (3640, 4548)
    box = found.boxes[0]
    assert abs(box.top - base.top * 4) < 40 and abs(box.left - base.left * 4) < 40


def test_small_lone_face_is_found_by_the_second_pass(engine: FaceEngine) -> None:
    # On a 1600 px canvas, a face of about 60 px (1/27 of the long side) needs the upsampled pass.
    face = open_sample("obama2.jpg").convert("RGB").resize((130, 250))
    canvas = Image.new("RGB", (1600, 1200), (120, 130, 140))
    canvas.paste(face, (700, 500))
    found = engine.find_faces(decode(encode(canvas, "PNG"), LIMITS))
    assert len(found.boxes) == 1


def test_small_background_face_beside_a_large_one_does_not_count(engine: FaceEngine) -> None:
    main = open_sample("obama2.jpg").convert("RGB").resize((626, 1200))
    small = open_sample("biden.jpg").convert("RGB").resize((60, 136))  # face about 20 px wide
    canvas = Image.new("RGB", (1400, 1200), (200, 200, 200))
    canvas.paste(main, (0, 0))
    canvas.paste(small, (1200, 100))
    found = engine.find_faces(decode(encode(canvas, "PNG"), LIMITS))
    assert len(found.boxes) == 1


def test_encodings_close_to_face_recognitions_own(
    engine: FaceEngine, real_encodings: dict[str, np.ndarray]
) -> None:
    # Our path differs from face_recognition's (a smaller copy for detection); the encodings stay close.
    ours = real_encodings["obama.jpg"]
    assert np.linalg.norm(ours - real_encodings["obama3.jpg"]) < 0.6
    assert np.linalg.norm(ours - real_encodings["biden.jpg"]) > 0.6
    assert np.linalg.norm(ours - real_encodings["astronaut.png"]) > 0.6


def test_the_alignment_is_chosen_and_keyed(engine: FaceEngine) -> None:
    # 68-point alignment by default; the 5-point one on request. Same faces, other encodings, other key.
    from dataclasses import replace

    from tests.utils.faces import CONFIG

    assert CONFIG.landmarks == 68
    five = FaceEngine(replace(CONFIG, landmarks=5))
    decoded = decode(sample("obama2.jpg"), LIMITS)
    ours, theirs = engine.find_faces(decoded), five.find_faces(decoded)
    assert ours.boxes == theirs.boxes
    assert 0.01 < np.linalg.norm(ours.encodings[0] - theirs.encodings[0]) < 0.2
    assert CONFIG.cache_key_fields()["landmarks"] == 68
    assert five.config.cache_key_fields() != CONFIG.cache_key_fields()
