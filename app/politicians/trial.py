"""Calibration's measurements: each politician's deepfakes and the bank's strangers, seen by facegate.

Every upload here goes through what the service runs (``decode`` with the service's limits, then
``FaceEngine.find_faces`` with its settings), in ``settings.workers`` processes that each hold one
``FaceReader`` (``app.politicians.analysis``). For one politician, with the bank read once:
1. each reference photo: its encoding (as the reference set has it), its face prepared and its 68
   landmarks (``app.politicians.deepfakes.prepare``);
2. each reference photo's deepfakes onto the bank's hosts, encoded; a deepfake's distance is to the
   nearest *other* reference photo (leave one out), or to its own when there is no other;
3. every person of the bank (the strangers, and the hosts' own faces) and the other politicians: their
   distance to the nearest reference (another politician is one stranger, at their photo nearest the
   politician). A host's own face is only ever measured against the politician's references, never
   against a deepfake pasted onto it, so no one scores against their own face; counting the hosts
   gives the stranger tail 58 people rather than 46, and the nearest-looking ones among them.
The bank's faces (landmarks, encodings) are cached in ``<bank_dir>/faces``, keyed by the photo's
SHA-256, the face and what changes an encoding, so only the first calibration computes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.faces.engine import EngineConfig, FaceEngine
from app.faces.intake import Limits
from app.faces.matcher import Matrix
from app.politicians.analysis import Analysed, FaceReader, read_cached_face, write_cached_face
from app.politicians.bank import Person, Role, photo_path
from app.politicians.calibration import Measurement, Sample
from app.politicians.deepfakes import (
    CROP_FACES,
    FACE_WIDTH,
    MORPH_RATIOS,
    Face,
    NoFace,
)
from app.politicians.profiles import Politician
from app.politicians.references import EncodingCache

__all__ = ["PHOTOS_FOR_ALL_HOSTS", "Bank", "Reference", "Trial"]

# At most this many (reference photo, host) pairs per politician, five deepfakes each: three photos
# onto every host. More photos share the hosts out between them, so a politician with ten photos
# costs what one with three does (README: under two minutes on two cores).
PHOTOS_FOR_ALL_HOSTS = 3
KINDS = 2 + len(MORPH_RATIOS)  # deepfakes per (photo, host): the swap, its shared copy, the morphs


@dataclass(frozen=True)
class Reference:
    """One reference photo of the politician: its encoding ``(128,)``, and its prepared face (None
    when no landmarks were found: it is measured against, but no deepfake is made of it)."""

    photo: Path
    encoding: Matrix
    face: Face | None


@dataclass(frozen=True)
class Bank:
    """The bank as calibration uses it: the hosts' prepared faces, the strangers' encodings."""

    hosts: dict[str, Face]
    strangers: dict[str, Matrix]  # person -> (128,)
    left_out: tuple[str, ...]  # people whose photo showed facegate no single face
    host_encodings: dict[str, Matrix] = field(default_factory=dict)  # host -> (128,), their own face

    @property
    def people(self) -> dict[str, Matrix]:
        """Every person of the bank as a stranger to the politician: the strangers, then the hosts'
        own faces (module docstring, step 3)."""
        return {**self.strangers, **self.host_encodings}


class Trial:
    """The worker processes, and what calibration measures with them (a context manager)."""

    def __init__(
        self,
        *,
        config: EngineConfig,
        limits: Limits,
        workers: int,
        reference_cache: EncodingCache,
        bank_dir: Path,
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.config = config
        self.limits = limits
        self.workers = workers
        self.reference_cache = reference_cache
        self.bank_dir = bank_dir
        self.progress = progress
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(config, limits),
        )

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def read_bank(self, people: Sequence[Person]) -> Bank:
        """Every bank person's face, from the cache where possible."""
        key_fields = json.dumps(
            {**self.config.cache_key_fields(), "face_width": FACE_WIDTH, "crop_faces": CROP_FACES},
            sort_keys=True,
        )
        cache_dir = self.bank_dir / "faces"
        results: dict[str, Analysed] = {}
        pending: dict[str, tuple[Path, Future[Analysed]]] = {}
        for person in people:
            data = photo_path(self.bank_dir, person.photo).read_bytes()
            key = hashlib.sha256(f"{person.photo.sha256}|{person.box}|{key_fields}".encode()).hexdigest()
            cached = read_cached_face(cache_dir / f"{key}.npz", data, person.box)
            if cached is not None:
                results[person.name] = cached
            else:
                pending[person.name] = (
                    cache_dir / f"{key}.npz",
                    self._executor.submit(_person, data, person.box),
                )
        if pending:
            self.progress(f"bank: analysing {len(pending)} of {len(people)} people (cached afterwards)")
        for name, (path, future) in pending.items():
            results[name] = future.result()
            with contextlib.suppress(OSError):  # a read-only bank only costs this again next time
                write_cached_face(path, results[name])
        hosts, strangers, host_encodings, left_out = {}, {}, {}, []
        for person in people:
            found = results[person.name]
            if person.role is Role.HOST and found.face is not None and found.encoding is not None:
                hosts[person.name] = found.face
                host_encodings[person.name] = found.encoding
            elif person.role is Role.STRANGER and found.encoding is not None:
                strangers[person.name] = found.encoding
            else:
                left_out.append(person.name)
        return Bank(hosts, strangers, tuple(left_out), host_encodings)

    def measure(self, politician: Politician, others: Sequence[Politician], bank: Bank) -> Measurement:
        """The politician's deepfakes onto ``bank``'s hosts, ``bank``'s people and ``others``'
        photos, each as a distance to the politician's references (module docstring)."""
        started = time.perf_counter()
        refs = self.references(politician.photos)
        if not refs:
            raise NoFace(f"{politician.slug}: no reference photo shows one face")
        encodings = np.stack([ref.encoding for ref in refs])
        deepfakes = self._measure_deepfakes(politician.slug, refs, encodings, bank)
        strangers = [
            Sample(f"bank:{name}", "stranger", _nearest(encoding, encodings))
            for name, encoding in bank.people.items()
        ]
        for other in others:
            strangers.append(_nearest_photo(other.slug, self._encode_references(other), encodings))
        genuine = [
            Sample(f"{politician.slug}/{ref.photo.name}", "genuine", _nearest(ref.encoding, encodings, i))
            for i, ref in enumerate(refs)
            if len(refs) > 1
        ]
        return Measurement(
            slug=politician.slug,
            photos=len(refs),
            hosts=len(bank.hosts),
            people=len(bank.people) + len(others),
            deepfakes=tuple(deepfakes),
            strangers=tuple(strangers),
            genuine=tuple(genuine),
            seconds=time.perf_counter() - started,
        )

    def references(self, photos: Sequence[Path]) -> list[Reference]:
        """Those of ``photos`` that show one face, encoded and prepared for deepfakes."""
        futures = [self._executor.submit(_reference, photo.read_bytes()) for photo in photos]
        refs = []
        for photo, future in zip(photos, futures, strict=True):
            found = future.result()
            if found.encoding is not None:
                refs.append(Reference(photo, found.encoding, found.face))
        return refs

    def analyse(self, uploads: Sequence[bytes]) -> list[Analysed]:
        """Each upload's faces, as the service finds them."""
        return [f.result() for f in [self._executor.submit(_analyse, data) for data in uploads]]

    def people(self, photos: Sequence[tuple[bytes, tuple[int, int, int, int]]]) -> list[Analysed]:
        """Each ``(photo, box)``'s person (``FaceReader.person``), not cached."""
        return [f.result() for f in [self._executor.submit(_person, data, box) for data, box in photos]]

    def deepfakes(self, pairs: Sequence[tuple[Face, Face]]) -> list[list[tuple[str, Matrix | None]]]:
        """For each ``(face, host)``, every deepfake's kind and encoding (``FaceReader.deepfakes``)."""
        return [f.result() for f in [self._executor.submit(_deepfakes, face, host) for face, host in pairs]]

    def _measure_deepfakes(
        self, slug: str, refs: list[Reference], encodings: Matrix, bank: Bank
    ) -> list[Sample]:
        """Each source photo's deepfakes onto its hosts, measured leaving the source out."""
        faces = {i: ref.face for i, ref in enumerate(refs) if ref.face is not None}
        sources = list(faces)
        pairs = [(sources[k], host) for k, host in _pairs(len(sources), list(bank.hosts))]
        total = len(pairs) * KINDS
        self.progress(f"{slug}: {total} deepfakes from {len(sources)} photos onto {len(bank.hosts)} hosts")
        jobs = [(i, host, self._executor.submit(_deepfakes, faces[i], bank.hosts[host])) for i, host in pairs]
        samples: list[Sample] = []
        for done, (i, host, future) in enumerate(jobs, 1):
            for label, encoding in future.result():
                distance = None if encoding is None else _nearest(encoding, encodings, leave_out=i)
                samples.append(Sample(f"{label}:{refs[i].photo.name}->{host}", label, distance))
            if done % max(1, len(jobs) // 5) == 0 and done < len(jobs):
                self.progress(f"{slug}: {done * KINDS} of {total} deepfakes measured")
        return samples

    def _encode_references(self, politician: Politician) -> list[tuple[Path, Matrix | None]]:
        """Another politician's reference encodings, from the service's reference cache."""
        out: list[tuple[Path, Matrix | None]] = []
        for photo in politician.photos:
            data = photo.read_bytes()
            key = self.reference_cache.key(data)
            encoding = self.reference_cache.get(key)
            if encoding is None:
                found = self._executor.submit(_analyse, data).result()
                encoding = found.encoding
                if encoding is not None:
                    # A read-only data folder only costs the computation next time.
                    with contextlib.suppress(OSError):
                        self.reference_cache.put(key, encoding)
            out.append((photo, encoding))
        return out


def _pairs(photos: int, hosts: list[str]) -> list[tuple[int, str]]:
    """``(photo, host)`` pairs: every host for each photo, up to ``PHOTOS_FOR_ALL_HOSTS`` photos;
    with more, each photo gets an equal share of the hosts, in rotation."""
    if photos <= PHOTOS_FOR_ALL_HOSTS:
        return [(i, host) for i in range(photos) for host in hosts]
    share = math.ceil(PHOTOS_FOR_ALL_HOSTS * len(hosts) / photos)
    return [
        (i, hosts[(i * share + k) % len(hosts)]) for i in range(photos) for k in range(min(share, len(hosts)))
    ]


def _nearest_photo(slug: str, photos: list[tuple[Path, Matrix | None]], references: Matrix) -> Sample:
    """Another politician as one stranger, at the distance of their photo nearest the references: one
    person counts once, however many photos they have."""
    measured = [(_nearest(e, references), photo) for photo, e in photos if e is not None]
    if not measured:
        return Sample(slug, "politician", None)
    distance, photo = min(measured)
    return Sample(f"{slug}/{photo.name}", "politician", distance)


def _nearest(encoding: Matrix, references: Matrix, leave_out: int | None = None) -> float:
    """The distance to the nearest reference row; ``leave_out`` skips that row when another is left."""
    distances = np.linalg.norm(references - encoding, axis=1)
    if leave_out is not None and len(distances) > 1:
        distances = np.delete(distances, leave_out)
    return float(distances.min())


# In the worker processes: one reader each.

_reader: FaceReader | None = None


def _init_worker(config: EngineConfig, limits: Limits) -> None:
    global _reader
    _reader = FaceReader(FaceEngine(config), limits)


def _worker() -> FaceReader:
    assert _reader is not None, "worker not initialised"
    return _reader


def _analyse(data: bytes) -> Analysed:
    return _worker().analyse(data)


def _person(data: bytes, box: tuple[int, int, int, int]) -> Analysed:
    return _worker().person(data, box)


def _reference(data: bytes) -> Analysed:
    return _worker().reference(data)


def _deepfakes(face: Face, host: Face) -> list[tuple[str, Matrix | None]]:
    return _worker().deepfakes(face, host)
