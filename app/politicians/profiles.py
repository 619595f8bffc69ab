"""The reference folder on disk: ``reference_faces/<slug>/profile.toml`` plus reference photos.

A politician is a folder named by its slug, holding a ``profile.toml`` (what the carousel shows, and
this politician's calibration) and at least one photo. ``read_politicians`` reads the folder,
``profile_toml`` writes a profile back (``facegate politicians add``), ``with_calibration`` sets a
profile's ``tolerance`` and ``review_band`` under the comment that says how they were chosen
(``facegate politicians calibrate``).
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from app.errors import ReferenceSetError
from app.politicians.names import NameClash, PoliticianNames

__all__ = [
    "CALIBRATED_BY",
    "PHOTO_SUFFIXES",
    "PROFILE_FILE",
    "SLUG_PATTERN",
    "Calibrated",
    "Politician",
    "Profile",
    "calibrated",
    "politician_names",
    "profile_toml",
    "read_politicians",
    "with_calibration",
]

PROFILE_FILE = "profile.toml"
PHOTO_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".avif",
}
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CALIBRATION_KEYS = re.compile(r"^\s*(tolerance|review_band)\s*=")


TOLERANCE_MIN, TOLERANCE_MAX, BAND_MAX = 0.3, 1.0, 0.5  # what a profile (and the settings) accept


class Profile(BaseModel):
    """What the carousel shows of a politician; read from ``profile.toml``."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1)
    role: str = Field(min_length=1, description="Official role.")
    country: str = Field(min_length=1)
    description: str = ""
    # This politician's calibration (README, "Choosing the review band"); unset:
    # ``FACEGATE_TOLERANCE`` and ``FACEGATE_REVIEW_BAND``.
    # Bounds that no calibration leaves, so that a typo (0.06 for 0.6) is refused with the folder,
    # whose rows are then held, and never rejects every upload as no_match.
    tolerance: float | None = Field(None, ge=TOLERANCE_MIN, le=TOLERANCE_MAX)
    review_band: float | None = Field(None, ge=0, le=BAND_MAX)
    # What the forms facegate creates offer for this politician, when it is not ``name``.
    form_label: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("name", "role", "country", "description", "form_label")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        """Shown on the carousel and written to ``profile.toml``: control characters (which TOML
        refuses, and a page would not show) are a typing or pasting mistake, said at once."""
        if value is not None and any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
            raise ValueError("contains a control character (e.g. DEL or an escape); type it again")
        return value


@dataclass(frozen=True)
class Calibrated:
    """What the last calibration measured, as its comment in ``profile.toml`` says: how many
    reference photos, and how many other politicians (each a stranger to this one)."""

    photos: int
    others: int


# How the comment ``app.politicians.calibration_text`` writes above the rule begins; its first
# sentence, the lines joined again, says what was measured.
CALIBRATED_BY = "Calibrated by `facegate politicians calibrate` on"
CALIBRATED = re.compile(
    re.escape(CALIBRATED_BY) + r" \S+ .*?: (\d+) reference photos?, .*?"
    r" strangers \(\d+ people of the bank, (\d+) other politicians?\)"
)


def calibrated(text: str) -> Calibrated | None:
    """The last calibration of a ``profile.toml``'s ``text``; None when no comment says one."""
    comment = " ".join(
        line.strip().removeprefix("#").strip() for line in text.splitlines() if line.lstrip().startswith("#")
    )
    found = list(CALIBRATED.finditer(comment))  # a comment left above by hand may hold an older one
    return Calibrated(int(found[-1][1]), int(found[-1][2])) if found else None


@dataclass(frozen=True)
class Politician:
    slug: str
    profile: Profile
    photos: tuple[Path, ...]
    calibrated: Calibrated | None = None


def politician_names(politicians: Iterable[Politician]) -> PoliticianNames:
    """The names a cell may give each politician; ``ReferenceSetError`` when one names two."""
    politicians = list(politicians)
    try:
        return PoliticianNames.build((p.slug, p.profile.name, p.profile.form_label) for p in politicians)
    except NameClash as clash:
        raise ReferenceSetError(
            f"{clash.text!r} names both {clash.first!r} and {clash.second!r}: a slug, name or form_label"
            " must name one politician only (set a distinct form_label in one profile.toml)."
        ) from clash


def read_politicians(reference_dir: Path) -> list[Politician]:
    """Read every ``<slug>/profile.toml`` and list its photos; errors name the file."""
    if not reference_dir.is_dir():
        raise ReferenceSetError(f"{reference_dir}: the reference folder does not exist.")
    politicians = []
    for folder in sorted(p for p in reference_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not SLUG_PATTERN.match(folder.name):
            raise ReferenceSetError(f"{folder}: a politician's folder name must be a slug like 'jane-doe'.")
        profile_path = folder / PROFILE_FILE
        try:
            text = profile_path.read_text(encoding="utf-8")
            profile = Profile.model_validate(tomllib.loads(text))
        except FileNotFoundError as exc:
            raise ReferenceSetError(f"{profile_path}: missing.") from exc
        except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
            raise ReferenceSetError(f"{profile_path}: {exc}") from exc
        photos = tuple(
            sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        )
        if not photos:
            raise ReferenceSetError(f"{folder}: no reference photo ({', '.join(sorted(PHOTO_SUFFIXES))}).")
        politicians.append(Politician(folder.name, profile, photos, calibrated(text)))
    politician_names(politicians)  # a name that names two politicians is a broken folder
    return politicians


def profile_toml(profile: Profile) -> str:
    """``profile.toml`` for ``profile``: JSON strings are valid TOML basic strings."""
    lines = []
    for key, value in profile.model_dump(exclude_none=True).items():
        if value == "":
            continue
        lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    text = "\n".join(lines) + "\n"
    assert Profile.model_validate(tomllib.loads(text)) == profile  # what is read back is what was given
    return text


def with_calibration(text: str, *, tolerance: float, review_band: float, comment: Sequence[str]) -> str:
    """``profile.toml``'s ``text`` with ``tolerance`` and ``review_band`` set, under ``comment`` (lines
    starting with ``#``). The previous values go, with the comment lines right above them (the last
    calibration's); every other line stays as it was."""
    lines = text.splitlines()
    drop = set()
    for i, line in enumerate(lines):
        if CALIBRATION_KEYS.match(line):
            drop.add(i)
            j = i - 1
            while j >= 0 and (lines[j].lstrip().startswith("#") or j in drop):
                drop.add(j)
                j -= 1
    kept = [line for i, line in enumerate(lines) if i not in drop]
    while kept and not kept[-1].strip():
        kept.pop()
    block = [*comment, f"tolerance = {tolerance!r}", f"review_band = {review_band!r}"]
    result = "\n".join([*kept, *block]) + "\n"
    profile = Profile.model_validate(tomllib.loads(result))
    assert (profile.tolerance, profile.review_band) == (tolerance, review_band)
    return result
