"""The face engine and the intake as the tests run them: with the service's default settings."""

from __future__ import annotations

from app.faces.engine import EngineConfig
from app.faces.intake import Limits

CONFIG = EngineConfig(detect_max_side=1024, encode_max_side=2048, min_detection_score=0.3)
LIMITS = Limits(max_bytes=20 * 1024 * 1024, max_pixels=50_000_000, max_side=2048)
