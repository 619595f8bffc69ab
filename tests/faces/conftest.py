from __future__ import annotations

import numpy as np
import pytest

from app.faces.engine import EngineConfig, FaceEngine
from app.faces.intake import Limits, decode
from harness.images import sample

CONFIG = EngineConfig(detect_max_side=1024, encode_max_side=2048, min_detection_score=0.3)
LIMITS = Limits(max_bytes=20 * 1024 * 1024, max_pixels=50_000_000, max_side=2048)


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    """A face engine in the test process (the app runs its engines in worker processes)."""
    return FaceEngine(CONFIG)


@pytest.fixture(scope="session")
def real_encodings(engine: FaceEngine) -> dict[str, np.ndarray]:
    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "obama_partial_face.jpg"]
    out = {}
    for name in names:
        found = engine.find_faces(decode(sample(name), LIMITS))
        assert len(found.boxes) == 1, name
        out[name] = found.encodings[0]
    return out
