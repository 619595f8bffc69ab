"""How calibration sees a photo: facegate's own face engine, plus the landmarks deepfakes are made from.

``FaceReader`` decodes an upload with the service's limits and finds its faces with the service's
``FaceEngine`` (so a distance here is a distance facegate would measure), and prepares faces for
deepfakes (``app.politicians.deepfakes``). ``app.politicians.trial`` runs one reader in each worker
process; tests and the bench use one in-process. The bank's faces are cached as ``.npz`` files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.faces.engine import FaceEngine
from app.faces.intake import ImageRejected, Limits, decode
from app.faces.matcher import ENCODING_DIM, Matrix
from app.politicians.deepfakes import Face, Landmarker, NoFace, Pixels, deepfakes_of, jpeg, prepare

__all__ = ["Analysed", "FaceReader", "read_cached_face", "write_cached_face"]


@dataclass(frozen=True)
class Analysed:
    """One photo as facegate sees it: how many faces, the encoding ``(128,)`` of the one face (None
    otherwise), and the face prepared for deepfakes with its landmarks (None when not asked for, or
    no landmarks were found)."""

    faces: int
    encoding: Matrix | None
    face: Face | None = None


class FaceReader:
    """A ``FaceEngine`` with the service's settings and a ``Landmarker`` (one per process: dlib)."""

    def __init__(self, engine: FaceEngine, limits: Limits) -> None:
        self.engine = engine
        self.limits = limits
        self.landmarker = Landmarker()

    def analyse(self, data: bytes) -> Analysed:
        """An upload's faces, as the service finds them (an unreadable image has none)."""
        try:
            found = self.engine.find_faces(decode(data, self.limits))
        except ImageRejected:
            return Analysed(0, None)
        return Analysed(len(found.boxes), found.encodings[0] if len(found.boxes) == 1 else None)

    def person(self, data: bytes, box: tuple[int, int, int, int]) -> Analysed:
        """A person of a photo (``box`` in pixels as displayed): the face prepared, its landmarks, and
        the encoding of the prepared photo (the JPEG that person would upload)."""
        pixels = prepare(Image.open(io.BytesIO(data)), box)
        found = self.analyse(jpeg(pixels))
        return Analysed(found.faces, found.encoding, self._landmarked(pixels))

    def reference(self, data: bytes) -> Analysed:
        """A reference photo: its encoding (as the reference set has it) and its one face prepared."""
        decoded = decode(data, self.limits)
        found = self.engine.find_faces(decoded)
        if len(found.boxes) != 1:
            return Analysed(len(found.boxes), None)
        box, scale = found.boxes[0], decoded.image.width / decoded.width
        pixels = prepare(
            decoded.image,
            (
                round(box.left * scale),
                round(box.top * scale),
                round(box.right * scale),
                round(box.bottom * scale),
            ),
        )
        return Analysed(1, found.encodings[0], self._landmarked(pixels))

    def deepfakes(self, face: Face, host: Face) -> list[tuple[str, Matrix | None]]:
        """Each deepfake of ``face`` onto ``host``: its kind, and the encoding of its one face (None
        when facegate does not find exactly one)."""
        return [(fake.label, self.analyse(fake.data).encoding) for fake in deepfakes_of(face, host)]

    def _landmarked(self, pixels: Pixels) -> Face | None:
        try:
            return Face(pixels, self.landmarker(pixels))
        except NoFace:
            return None


def read_cached_face(path: Path, data: bytes, box: tuple[int, int, int, int]) -> Analysed | None:
    """A cached person (``FaceReader.person``) of the photo ``data``; None when not cached. The
    prepared pixels are made again: cheap, and never stale."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            faces, encoding, points = int(stored["faces"]), stored["encoding"], stored["points"]
    except (OSError, ValueError, KeyError):
        return None
    found = np.asarray(encoding, dtype=np.float64) if encoding.shape == (ENCODING_DIM,) else None
    if points.shape != (68, 2):
        return Analysed(faces, found)
    pixels = prepare(Image.open(io.BytesIO(data)), box)
    return Analysed(faces, found, Face(pixels, np.asarray(points, dtype=np.float64)))


def write_cached_face(path: Path, found: Analysed) -> None:
    """Cache ``found`` at ``path`` (written whole, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.npz")
    np.savez(
        partial,
        faces=np.int64(found.faces),
        encoding=found.encoding if found.encoding is not None else np.zeros(0),
        points=found.face.points if found.face is not None else np.zeros(0),
    )
    partial.replace(path)
