"""The project's generated deepfake set: politicians' sample photos swapped and morphed onto people the
bank does not hold, for tests and the bench.

Calibration (``facegate politicians calibrate``) measures each politician on the bank's people
(``app.politicians.bank_people``). This set measures what a calibration then does on faces it has
never seen: the sample photos that ``scripts/fetch_samples.py`` downloads (never committed), made into
deepfakes by the app's own generator (``app.politicians.deepfakes``), and measured as facegate
measures an upload: against every reference photo of the politician claimed. No randomness: the same
photos give the same bytes on a machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from app.config import Settings
from app.faces.engine import EngineConfig, FaceEngine
from app.faces.intake import Limits
from app.politicians.analysis import FaceReader
from app.politicians.deepfakes import Deepfake, Face, deepfakes_of, jpeg, prepare
from harness.images import SAMPLES, open_sample, sample

__all__ = [
    "GENUINE",
    "HOSTS",
    "NEW_POLITICIANS",
    "OUTSIDE",
    "POLITICIAN_PHOTOS",
    "Generated",
    "SamplePerson",
    "generated",
    "person_face",
    "person_jpeg",
    "reader",
    "source_face",
]

# Each demo politician's sample photos that deepfakes are made from: the reference photos, since
# uploaders paste the official portraits, and the others, which calibration has never seen.
POLITICIAN_PHOTOS: dict[str, tuple[str, ...]] = {
    "obama": ("obama2.jpg", "obama.jpg", "obama3.jpg", "obama4.jpg"),
    "biden": ("biden.jpg",),
}


# The demo politicians' sample photos that are not references: each must be approved.
GENUINE: dict[str, tuple[str, ...]] = {
    "obama": (
        "obama2.jpg",
        "obama2_rgba.png",
        "obama_partial_face.jpg",
        "obama_partial_face2.jpg",
        "obama4.jpg",
    ),
}


@dataclass(frozen=True)
class SamplePerson:
    """A person of a sample photo, with their face's box ``(left, top, right, bottom)``; ``host``:
    deepfakes of this set are pasted onto them (every one of them is a stranger to the politicians)."""

    name: str
    photo: str
    box: tuple[int, int, int, int]
    host: bool


# People of the sample photos that the bank does not hold.
OUTSIDE: tuple[SamplePerson, ...] = (
    SamplePerson("astronaut", "astronaut.png", (179, 83, 266, 170), host=True),
    SamplePerson("aaron_paul", "people/breakingbad.jpg", (615, 225, 848, 459), host=True),
    SamplePerson("takeo", "people/takeo.ppm", (31, 65, 135, 169), host=True),
    SamplePerson("t1_a", "people/t1.jpg", (68, 284, 176, 392), host=True),
    SamplePerson("t1_c", "people/t1.jpg", (452, 296, 560, 404), host=True),
    SamplePerson("t1_d", "people/t1.jpg", (728, 368, 836, 476), host=True),
    SamplePerson("t1_b", "people/t1.jpg", (266, 176, 356, 266), host=False),
    # t1_e turns his head: a frontal face warped onto it is no face to dlib, so he is never a host.
    SamplePerson("t1_e", "people/t1.jpg", (884, 80, 991, 188), host=False),
    SamplePerson("t1_f", "people/t1.jpg", (1111, 284, 1220, 392), host=False),
    SamplePerson("tom_hanks", "people/tom_hanks.png", (16, 26, 102, 112), host=False),
    SamplePerson("einstein", "people/tongue.jpg", (56, 199, 698, 841), host=False),
)
HOSTS = tuple(p.name for p in OUTSIDE if p.host)
# Politicians the calibration tests add, never seen by the bank or by the rule's design: two photos
# from different days of one, three frames of a video of the other.
NEW_POLITICIANS: dict[str, tuple[str, ...]] = {
    "cage": ("people/cage.jpg", "people/cage2.jpg"),
    "franck": ("people/franck_01829.jpg", "people/franck_02888.jpg", "people/franck_04117.jpg"),
}


@dataclass(frozen=True)
class Generated:
    """One deepfake of the set: ``source`` is the politician's sample photo, ``host`` the person."""

    politician: str
    source: str
    host: str
    deepfake: Deepfake

    @property
    def name(self) -> str:
        return f"{self.deepfake.label}:{self.source}->{self.host}"


@cache
def reader() -> FaceReader:
    """An in-process reader with facegate's default settings (no ``.env``)."""
    s = Settings(_env_file=None)
    config = EngineConfig(s.detect_max_side, s.encode_max_side, s.min_detection_score, s.landmarks)
    return FaceReader(FaceEngine(config), Limits(s.max_upload_bytes, s.max_image_pixels, s.encode_max_side))


def _person(name: str) -> SamplePerson:
    return next(p for p in OUTSIDE if p.name == name)


@cache
def person_face(name: str) -> Face:
    """A person's prepared photo (``app.politicians.deepfakes.prepare``) and its landmarks."""
    person = _person(name)
    pixels = prepare(open_sample(person.photo), person.box)
    return Face(pixels, reader().landmarker(pixels))


def person_jpeg(name: str) -> bytes:
    """A person's prepared photo as the JPEG they would upload."""
    return jpeg(person_face(name).pixels)


@cache
def source_face(photo: str) -> Face:
    """A politician's sample photo, its one face prepared as calibration prepares reference photos."""
    found = reader().reference(sample(photo))
    if found.face is None:
        raise ValueError(f"{SAMPLES / photo}: no single face with landmarks")
    return found.face


def generated(
    politicians: Sequence[str] = tuple(POLITICIAN_PHOTOS), hosts: Sequence[str] | None = None
) -> Iterator[Generated]:
    """Every kind of deepfake of every politician's photos onto every host, in a fixed order."""
    hosts = HOSTS if hosts is None else hosts
    for slug in politicians:
        for source in POLITICIAN_PHOTOS[slug]:
            for host in hosts:
                for fake in deepfakes_of(source_face(source), person_face(host)):
                    yield Generated(slug, source, host, fake)
