"""Test and measurement infrastructure shared by tests/, bench/ and scripts/ (not shipped: the wheel is app/).

It may import app/, but never tests/, bench/ or scripts/: they import it.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
