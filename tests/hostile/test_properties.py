"""Properties, with hypothesis: the matcher against brute force, the verdict table, and the intake on junk."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFile

from app.api.verify_schemas import Verdict as VerdictBody
from app.faces.intake import DecodedImage, ImageRejected, Limits, decode
from app.faces.matcher import ENCODING_DIM, ReferenceMatrix, politician_distances
from app.faces.verdict import Box, Verdict, decide
from app.outcomes import Decision, Reason
from harness.images import open_sample

Floats = npt.NDArray[np.float64]
BOX = Box(top=0, right=1, bottom=1, left=0)
# dlib's descriptors have components well inside [-1, 1].
component = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, width=64)
encoding = arrays(np.float64, ENCODING_DIM, elements=component)


@dataclass
class World:
    groups: dict[str, list[Floats]]
    faces: Floats


@st.composite
def worlds(draw: st.DrawFn, min_politicians: int = 1, max_politicians: int = 12, max_faces: int = 4) -> World:
    """Politicians with 1-4 references each (some duplicated), and faces, some equal to a reference."""
    slugs = [
        f"p{i}" for i in draw(st.permutations(range(draw(st.integers(min_politicians, max_politicians)))))
    ]
    groups: dict[str, list[Floats]] = {}
    pool: list[Floats] = []
    for slug in slugs:
        rows = draw(st.lists(encoding, min_size=1, max_size=3))
        if draw(st.booleans()) and pool:
            rows.append(draw(st.sampled_from(pool)))  # the same photo under two politicians
        if draw(st.booleans()):
            rows.append(rows[0].copy())  # the same photo twice
        groups[slug] = rows
        pool.extend(rows)
    faces = []
    for _ in range(draw(st.integers(0, max_faces))):
        kind = draw(st.sampled_from(["random", "copy", "near"])) if pool else "random"
        if kind == "random":
            faces.append(draw(encoding))
        else:
            base = draw(st.sampled_from(pool))
            noise = draw(st.floats(0, 1e-3)) if kind == "near" else 0.0
            faces.append(base + noise)
    return World(groups, np.array(faces, dtype=np.float64).reshape(-1, ENCODING_DIM))


def brute_force(world: World) -> tuple[tuple[str, ...], Floats]:
    labels = tuple(sorted(world.groups))
    table = np.array(
        [[min(float(np.linalg.norm(f - r)) for r in world.groups[s]) for s in labels] for f in world.faces]
    )
    return labels, table.reshape(len(world.faces), len(labels))


@settings(max_examples=150, deadline=None)
@given(world=worlds())
def test_politician_distances_equal_brute_force(world: World) -> None:
    matrix = ReferenceMatrix.build(world.groups)
    labels, expected = brute_force(world)
    assert matrix.labels == labels
    got = politician_distances(world.faces, matrix)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.all(got >= 0)


@settings(max_examples=40, deadline=None)
@given(world=worlds(min_politicians=1, max_politicians=1, max_faces=8))
def test_one_politician(world: World) -> None:
    matrix = ReferenceMatrix.build(world.groups)
    np.testing.assert_allclose(politician_distances(world.faces, matrix), brute_force(world)[1], atol=1e-9)


@settings(max_examples=8, deadline=None)
@given(world=worlds(min_politicians=40, max_politicians=80, max_faces=2))
def test_many_politicians(world: World) -> None:
    matrix = ReferenceMatrix.build(world.groups)
    np.testing.assert_allclose(politician_distances(world.faces, matrix), brute_force(world)[1], atol=1e-9)


tolerances = st.floats(0.05, 2.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(world=worlds(min_politicians=0, max_politicians=5, max_faces=3), data=st.data())
def test_decide_follows_the_table(world: World, data: st.DataObject) -> None:
    matrix = ReferenceMatrix.build(world.groups)
    labels, distances = brute_force(world)
    tol = {s: data.draw(tolerances) for s in labels if data.draw(st.booleans())}
    default = data.draw(tolerances)
    expected = data.draw(st.sampled_from([None, *labels]))
    verdict = decide(
        boxes=[BOX] * len(world.faces),
        encodings=world.faces,
        references=matrix,
        tolerances=tol,
        default_tolerance=default,
        expected=expected,
    )
    tolerance_of = {s: tol.get(s, default) for s in labels}
    assert isinstance(verdict, Verdict) and len(verdict.faces) == len(world.faces)
    assert VerdictBody.of(verdict).model_dump_json()  # serialisable: no NaN, no infinity
    outcome = (verdict.decision, verdict.reason)
    if len(world.faces) == 0:
        assert outcome == (Decision.REJECTED, Reason.NO_FACE) and verdict.politician == expected
    elif len(world.faces) > 1:
        assert outcome == (Decision.REJECTED, Reason.MULTIPLE_FACES) and verdict.politician == expected
    elif expected is not None:
        distance = distances[0, labels.index(expected)]
        assume(abs(distance - tolerance_of[expected]) > 1e-9)  # not on the boundary, where rounding decides
        match = distance <= tolerance_of[expected]
        assert outcome == (
            (Decision.APPROVED, Reason.MATCH) if match else (Decision.REJECTED, Reason.NO_MATCH)
        )
        assert (verdict.politician, verdict.tolerance) == (expected, tolerance_of[expected])
    else:
        relative = sorted((distances[0, i] / tolerance_of[s], s) for i, s in enumerate(labels))
        assume(all(abs(r - 1.0) > 1e-8 for r, _ in relative))
        assume(len(relative) < 2 or relative[1][0] - relative[0][0] > 1e-8)
        if relative and relative[0][0] <= 1.0:
            best = relative[0][1]
            assert outcome == (Decision.APPROVED, Reason.MATCH)
            assert (verdict.politician, verdict.tolerance) == (best, tolerance_of[best])
        else:
            assert outcome == (Decision.REJECTED, Reason.NO_MATCH) and verdict.politician is None


wide = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=True)


@settings(max_examples=100, deadline=None)
@given(
    faces=arrays(np.float64, st.tuples(st.integers(0, 3), st.just(ENCODING_DIM)), elements=wide),
    refs=st.lists(arrays(np.float64, ENCODING_DIM, elements=wide), min_size=1, max_size=4),
    tolerance=st.floats(1e-6, 1e6),
    claim=st.booleans(),
)
def test_decide_never_raises_on_finite_inputs(
    faces: Floats, refs: list[Floats], tolerance: float, claim: bool
) -> None:
    matrix = ReferenceMatrix.build({"a": refs[:1], "b": refs[1:]})
    verdict = decide(
        boxes=[BOX] * len(faces),
        encodings=faces,
        references=matrix,
        tolerances={"a": tolerance},
        default_tolerance=0.6,
        expected="a" if claim else None,
    )
    assert verdict.decision in set(Decision) and verdict.reason in set(Reason)
    assert VerdictBody.of(verdict).model_dump_json()


# The intake.

LIMITS = Limits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000, max_side=512)


def _small(fmt: str, **options: object) -> bytes:
    image = open_sample("obama2.jpg").convert("RGB")
    image.thumbnail((48, 48))
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


SMALL = {
    "png": _small("PNG"),
    "jpeg": _small("JPEG", quality=80),
    "progressive-jpeg": _small("JPEG", progressive=True),
    "gif": _small("GIF"),
    "webp": _small("WEBP"),
    "bmp": _small("BMP"),
    "tiff": _small("TIFF"),
}


def _decode_or_reject(data: bytes) -> None:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in production, where Pillow's warnings are only logged
        try:
            decoded = decode(data, LIMITS)
        except ImageRejected as exc:
            event(f"rejected: {exc.kind}")
            return
    event(f"decoded: {decoded.format}")
    assert isinstance(decoded, DecodedImage)
    assert isinstance(decoded.image, Image.Image) and decoded.image.mode == "RGB"
    assert 0 < max(decoded.image.size) <= LIMITS.max_side
    assert decoded.width > 0 and decoded.height > 0
    pixels = decoded.pixels(LIMITS.max_side)
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=4096))
def test_decode_on_random_bytes(data: bytes) -> None:
    _decode_or_reject(data)


magic = st.sampled_from(
    [
        b"\xff\xd8\xff",
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a",
        b"RIFF\0\0\0\0WEBPVP8 ",
        b"BM",
        b"II*\0",
        b"MM\0*",
        b"\0\0\0\x18ftypheic",
        b"\0\0\0\x1cftypavif",
    ]
)


@settings(max_examples=150, deadline=None)
@given(head=magic, tail=st.binary(max_size=2048))
def test_decode_on_random_bytes_behind_a_real_signature(head: bytes, tail: bytes) -> None:
    _decode_or_reject(head + tail)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SMALL[draw(st.sampled_from(sorted(SMALL)))])
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        # Mostly behind the signature, so that most inputs reach the decoders.
        low = 0 if draw(st.integers(0, 9)) == 0 else min(16, len(data))
        at = min(draw(st.integers(low, max(low, len(data) - 1))), max(0, len(data) - 1))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(data=mutated())
def test_decode_on_mutated_real_images(data: bytes) -> None:
    _decode_or_reject(data)


def test_the_unmutated_images_decode() -> None:
    for name, data in SMALL.items():
        decoded = decode(data, LIMITS)
        assert decoded.image.mode == "RGB", name
