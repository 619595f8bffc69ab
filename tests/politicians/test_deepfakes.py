"""The deepfake generator (``app.politicians.deepfakes``): deterministic, the kinds and counts it
promises, one face each to facegate, hosts untouched outside the face."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from app.politicians.deepfakes import MORPH_RATIOS, Kind
from harness.deepfakes import HOSTS as OUTSIDE_HOSTS
from harness.deepfakes import (
    OUTSIDE,
    POLITICIAN_PHOTOS,
    Generated,
    generated,
    person_face,
    person_jpeg,
    reader,
)
from harness.images import ROOT

HOSTS = list(OUTSIDE_HOSTS)
SOURCES = [photo for photos in POLITICIAN_PHOTOS.values() for photo in photos]
PER_PAIR = 2 + len(MORPH_RATIOS)  # a swap, its shared copy, a morph per ratio


@pytest.fixture(scope="module")
def fakes() -> list[Generated]:
    return list(generated())


def _digest(items: list[Generated]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.name.encode() + hashlib.sha256(item.deepfake.data).digest())
    return digest.hexdigest()


def test_kinds_and_counts(fakes: list[Generated]) -> None:
    assert len(fakes) == len(SOURCES) * len(HOSTS) * PER_PAIR
    assert len({f.name for f in fakes}) == len(fakes)
    kinds = Counter((f.deepfake.kind, f.deepfake.ratio) for f in fakes)
    pairs = len(SOURCES) * len(HOSTS)
    assert kinds == {
        (Kind.SWAP, 1.0): pairs,
        (Kind.SHARED, 1.0): pairs,
        **{(Kind.MORPH, ratio): pairs for ratio in MORPH_RATIOS},
    }
    assert Counter((f.source, f.host) for f in fakes) == {(s, h): PER_PAIR for s in SOURCES for h in HOSTS}
    assert {f.politician for f in fakes if f.source == "biden.jpg"} == {"biden"}
    for fake in fakes:
        assert fake.deepfake.data.startswith(b"\xff\xd8")
        assert fake.deepfake.pixels.shape == person_face(fake.host).pixels.shape


def test_the_same_bytes_in_another_process(fakes: list[Generated]) -> None:
    """Nothing random: a fresh process (fresh landmarks, no cache) makes the same JPEGs."""
    code = (
        "from harness.deepfakes import generated; import hashlib, sys\n"
        "d = hashlib.sha256()\n"
        f"for f in generated(hosts={HOSTS[:2]!r}):\n"
        "    d.update(f.name.encode() + hashlib.sha256(f.deepfake.data).digest())\n"
        "sys.stdout.write(d.hexdigest())\n"
    )
    other = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert other.stdout == _digest([f for f in fakes if f.host in HOSTS[:2]])
    assert _digest(list(generated(hosts=HOSTS[:2]))) == other.stdout


def test_hosts_are_untouched_where_the_face_is_not(fakes: list[Generated]) -> None:
    for fake in fakes:
        host = person_face(fake.host).pixels
        left, top, right, bottom = fake.deepfake.region
        outside = np.ones(host.shape[:2], dtype=bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(fake.deepfake.pixels[outside], host[outside]), fake.name
        inside = fake.deepfake.pixels[top:bottom, left:right].astype(int) - host[top:bottom, left:right]
        assert np.abs(inside).mean() > 2, fake.name  # the face did change
        # The region is the face, not the photo: well inside the host's frame.
        assert (right - left) * (bottom - top) < 0.5 * host.shape[0] * host.shape[1], fake.name


def test_every_deepfake_and_person_has_exactly_one_face(fakes: list[Generated]) -> None:
    """A deepfake facegate finds no face in is a failed generation, not a test of the rule."""
    counts = {f.name: reader().analyse(f.deepfake.data).faces for f in fakes}
    counts |= {p.name: reader().analyse(person_jpeg(p.name)).faces for p in OUTSIDE}
    assert {name: n for name, n in counts.items() if n != 1} == {}
