"""The deepfake generator: deterministic, the kinds and counts it promises, one face each, hosts untouched."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from app.config import Settings
from app.faces.engine import EngineConfig, FaceEngine
from app.faces.intake import Limits, decode
from harness.deepfakes import (
    MORPH_RATIOS,
    PEOPLE,
    POLITICIAN_PHOTOS,
    Deepfake,
    Kind,
    deepfakes,
    person_jpeg,
    person_pixels,
)
from harness.images import ROOT

HOSTS = [p.name for p in PEOPLE if p.host]
SOURCES = [photo for photos in POLITICIAN_PHOTOS.values() for photo in photos]
PER_PAIR = 2 + len(MORPH_RATIOS)  # a swap, its shared copy, a morph per ratio


@pytest.fixture(scope="module")
def fakes() -> list[Deepfake]:
    return list(deepfakes())


@pytest.fixture(scope="module")
def engine_and_limits() -> tuple[FaceEngine, Limits]:
    """facegate's engine with the service's default settings."""
    s = Settings(_env_file=None)
    config = EngineConfig(s.detect_max_side, s.encode_max_side, s.min_detection_score)
    return FaceEngine(config), Limits(s.max_upload_bytes, s.max_image_pixels, s.encode_max_side)


def _digest(items: list[Deepfake]) -> str:
    digest = hashlib.sha256()
    for fake in items:
        digest.update(fake.name.encode() + hashlib.sha256(fake.data).digest())
    return digest.hexdigest()


def test_kinds_and_counts(fakes: list[Deepfake]) -> None:
    assert len(fakes) == len(SOURCES) * len(HOSTS) * PER_PAIR == 120
    assert len({f.name for f in fakes}) == len(fakes)
    kinds = Counter((f.kind, f.ratio) for f in fakes)
    pairs = len(SOURCES) * len(HOSTS)
    assert kinds == {
        (Kind.SWAP, 1.0): pairs,
        (Kind.SHARED, 1.0): pairs,
        **{(Kind.MORPH, ratio): pairs for ratio in MORPH_RATIOS},
    }
    assert Counter((f.source, f.host) for f in fakes) == {(s, h): PER_PAIR for s in SOURCES for h in HOSTS}
    assert {f.politician for f in fakes if f.source == "biden.jpg"} == {"biden"}
    for fake in fakes:
        assert fake.data.startswith(b"\xff\xd8")
        assert fake.pixels.shape == person_pixels(fake.host).shape


def test_the_same_bytes_in_another_process(fakes: list[Deepfake]) -> None:
    """Nothing random: a fresh process (fresh landmarks, no cache) makes the same JPEGs."""
    code = (
        "from harness.deepfakes import deepfakes; import hashlib, sys\n"
        "d = hashlib.sha256()\n"
        f"for f in deepfakes(hosts={HOSTS[:2]!r}):\n"
        "    d.update(f.name.encode() + hashlib.sha256(f.data).digest())\n"
        "sys.stdout.write(d.hexdigest())\n"
    )
    other = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert other.stdout == _digest([f for f in fakes if f.host in HOSTS[:2]])
    assert _digest(list(deepfakes(hosts=HOSTS[:2]))) == other.stdout


def test_hosts_are_untouched_where_the_face_is_not(fakes: list[Deepfake]) -> None:
    for fake in fakes:
        host = person_pixels(fake.host)
        left, top, right, bottom = fake.region
        outside = np.ones(host.shape[:2], dtype=bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(fake.pixels[outside], host[outside]), fake.name
        inside = fake.pixels[top:bottom, left:right].astype(int) - host[top:bottom, left:right]
        assert np.abs(inside).mean() > 2, fake.name  # the face did change
        # The region is the face, not the photo: well inside the host's frame.
        assert (right - left) * (bottom - top) < 0.5 * host.shape[0] * host.shape[1], fake.name


def test_every_deepfake_and_person_has_exactly_one_face(
    fakes: list[Deepfake], engine_and_limits: tuple[FaceEngine, Limits]
) -> None:
    """A deepfake facegate finds no face in is a failed generation, not a test of the rule."""
    engine, limits = engine_and_limits
    counts = {f.name: len(engine.find_faces(decode(f.data, limits)).boxes) for f in fakes}
    counts |= {p.name: len(engine.find_faces(decode(person_jpeg(p.name), limits)).boxes) for p in PEOPLE}
    assert {name: n for name, n in counts.items() if n != 1} == {}
