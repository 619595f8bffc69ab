"""``facegate politicians check`` and ``facegate politicians add``: the reference audit.

``check`` also notes the politicians whose calibration cannot be trusted: fewer than
``app.politicians.calibration.MIN_PHOTOS`` photos, or never calibrated.

Every reference photo is encoded with the service's own face engine, worker processes and
reference cache (``app.politicians.references.encode_photo``), then measured by ``app.politicians.audit``.
``add`` runs the same checks on the folder as it would be, and writes nothing unless they pass.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.assembly import build_face_service
from app.config import Settings
from app.errors import CommandError, ReferenceSetError
from app.faces.intake import Limits
from app.faces.matcher import Matrix
from app.politicians.audit import Audit, audit
from app.politicians.calibration import MIN_PHOTOS
from app.politicians.profiles import (
    PHOTO_SUFFIXES,
    PROFILE_FILE,
    SLUG_PATTERN,
    Politician,
    Profile,
    politician_names,
    profile_toml,
    read_politicians,
)
from app.politicians.references import encode_photo

__all__ = ["CHECK_FAILED", "CHECK_PASSED", "add_politician", "check_politicians"]

CHECK_PASSED = 0
CHECK_FAILED = 1


@dataclass(frozen=True)
class Measured:
    """Encodings of every readable photo, and a problem line for each unreadable one."""

    photos: dict[str, list[tuple[Path, int, Matrix]]]
    unreadable: list[str]


async def check_politicians(
    settings: Settings, reference_dir: Path, *, out: TextIO | None = None, progress: TextIO | None = None
) -> int:
    """Audit the reference folder, print the report (``out``, default stdout; progress on stderr);
    ``CHECK_FAILED`` when anything is wrong."""
    out, progress = out or sys.stdout, progress or sys.stderr
    politicians = read_politicians(reference_dir)
    measured = await _measure(settings, politicians, _display_root(reference_dir), progress)
    result = _audit(settings, politicians, measured)
    return _report(politicians, measured, result, out)


async def add_politician(
    settings: Settings,
    reference_dir: Path,
    *,
    slug: str,
    profile: Profile,
    photos: Sequence[Path],
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> int:
    """Create ``reference_dir/slug`` with ``profile.toml`` and copies of ``photos``, once the folder
    as it would then be passes the audit; nothing is written otherwise."""
    out, progress = out or sys.stdout, progress or sys.stderr
    target = reference_dir / slug
    _check_new(target, slug, photos)
    existing = _existing(reference_dir)
    new = Politician(slug, profile, tuple(photos))
    politician_names([*existing, new])  # its name or label must not name someone already there
    everyone = [*existing, new]
    measured = await _measure(settings, everyone, _display_root(reference_dir), progress)
    result = _audit(settings, everyone, measured)
    if _report(everyone, measured, result, out) != CHECK_PASSED:
        print(f"nothing written: {slug} was not added", file=out)
        return CHECK_FAILED
    _write(reference_dir, slug, profile, photos)
    print(
        f"added {slug} in {target}: reload the references (POST /politicians/reload, or restart facegate);"
        " to offer it in the form, run facegate bootstrap again (a campaign's table: with --add-options,"
        " or add the option in NocoDB)",
        file=out,
    )
    return CHECK_PASSED


def _existing(reference_dir: Path) -> list[Politician]:
    """The folder's politicians; none when it is not there yet: the first one added makes it (the
    default folder is ./reference_faces of the current folder)."""
    return read_politicians(reference_dir) if reference_dir.exists() else []


def _check_new(target: Path, slug: str, photos: Sequence[Path]) -> None:
    if not SLUG_PATTERN.match(slug):
        raise CommandError(
            f"{slug!r} is not a slug: lower-case letters, digits, '-' and '_', like 'jane-doe'"
        )
    if target.exists():
        raise CommandError(
            f"{target} exists already: add photos to it by hand, then run facegate politicians check"
        )
    if not photos:
        raise CommandError("give at least one photo")
    names = [photo.name for photo in photos]
    for photo in photos:
        if not photo.is_file():
            raise CommandError(f"{photo}: no such file")
        if photo.suffix.lower() not in PHOTO_SUFFIXES:
            raise CommandError(f"{photo}: not a photo facegate reads ({', '.join(sorted(PHOTO_SUFFIXES))})")
        if names.count(photo.name) > 1:
            raise CommandError(f"{photo.name}: two photos have this name; rename one")


def _write(reference_dir: Path, slug: str, profile: Profile, photos: Sequence[Path]) -> None:
    """Fill a hidden folder (the service skips dot-folders), then rename it into place at once."""
    staging = reference_dir / f".{slug}.adding"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        for photo in photos:
            shutil.copyfile(photo, staging / photo.name)
        text = profile_toml(profile)
        (staging / PROFILE_FILE).write_text(text, encoding="utf-8")
        staging.rename(reference_dir / slug)
    except OSError as exc:
        raise CommandError(f"cannot write {reference_dir / slug}: {exc.strerror or exc}") from exc
    finally:
        # Whatever went wrong, no half-made folder is left behind (a rename moved a finished one).
        shutil.rmtree(staging, ignore_errors=True)


async def _measure(
    settings: Settings, politicians: Sequence[Politician], root: Path, progress: TextIO
) -> Measured:
    """Encode every photo, ``settings.workers`` at a time, printing one progress line per photo."""
    limits = Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side)
    faces = build_face_service(settings, limits)
    total = sum(len(p.photos) for p in politicians)
    done = 0
    slots = asyncio.Semaphore(settings.workers)
    photos: dict[str, list[tuple[Path, int, Matrix]]] = {p.slug: [] for p in politicians}
    unreadable: list[str] = []

    async def one(slug: str, photo: Path) -> None:
        nonlocal done
        shown = _shown(photo, root)
        async with slots:
            try:
                found = await encode_photo(photo, cache=faces.cache, pool=faces.pool)
            except ReferenceSetError as exc:
                unreadable.append(f"{shown}: not a usable image ({exc.message.rsplit(': ', 1)[-1]})")
                done += 1
                print(f"[{done}/{total}] {shown}: unreadable", file=progress, flush=True)
                return
        photos[slug].append((shown, found.faces, found.encodings))
        done += 1
        note = " (cached)" if found.cached else ""
        print(f"[{done}/{total}] {shown}: {_faces(found.faces)}{note}", file=progress, flush=True)

    print(f"encoding {total} reference photos of {len(politicians)} politicians", file=progress, flush=True)
    try:
        await asyncio.gather(*(one(p.slug, photo) for p in politicians for photo in p.photos))
    finally:
        faces.pool.close()
    for items in photos.values():
        items.sort(key=lambda item: str(item[0]))
    return Measured(photos, sorted(unreadable))


def _audit(settings: Settings, politicians: Sequence[Politician], measured: Measured) -> Audit:
    tolerances = {p.slug: p.profile.tolerance for p in politicians if p.profile.tolerance is not None}
    return audit(measured.photos, tolerances=tolerances, default_tolerance=settings.tolerance)


def _report(politicians: Sequence[Politician], measured: Measured, result: Audit, out: TextIO) -> int:
    by_photo = {(r.slug, r.photo): r for r in result.photos}
    for politician in politicians:
        items = measured.photos[politician.slug]
        count = len(politician.photos)
        print(f"{politician.slug} ({politician.profile.name}): {count} photo{'s' * (count != 1)}", file=out)
        for photo, _, _ in items:
            report = by_photo[(politician.slug, photo)]
            if report.faces != 1:
                distance = ""
            elif report.nearest is None:
                distance = ", no other photo to compare"
            else:
                distance = f", {report.nearest:.3f} from the nearest other photo"
            print(f"  {photo}: {_faces(report.faces)}{distance}", file=out)
    if result.pairs:
        print("closest politicians (smallest distance between their photos):", file=out)
        for pair in sorted(result.pairs, key=lambda p: p.distance):
            closest = f"{pair.photos[0]}, {pair.photos[1]}"
            print(f"  {pair.first} - {pair.second}: {pair.distance:.3f} ({closest})", file=out)
    problems = [*measured.unreadable, *result.problems]
    for problem in problems:
        print(f"problem: {problem}", file=out)
    for note in _calibration_notes(politicians, measured):
        print(f"note: {note}", file=out)
    photos = sum(len(p.photos) for p in politicians)
    verdict = f"{len(problems)} problem{'s' * (len(problems) != 1)}" if problems else "no problem"
    print(f"{len(politicians)} politicians, {photos} photos: {verdict}", file=out)
    return CHECK_FAILED if problems else CHECK_PASSED


def _calibration_notes(politicians: Sequence[Politician], measured: Measured) -> list[str]:
    """Politicians whose calibration cannot be trusted yet: too few photos, none at all, or one
    measured on other photos or other politicians than the folder holds now (calibration counts the
    photos with one face, as ``measured`` does). Notes, not problems: facegate runs with them
    (README, "Adding a politician")."""
    notes = []
    for p in politicians:
        count, others = len(p.photos), len(politicians) - 1
        usable = sum(faces == 1 for _, faces, _ in measured.photos[p.slug])
        if count < MIN_PHOTOS:
            notes.append(
                f"{p.slug} has {_photos(count)}, fewer than the {MIN_PHOTOS} its"
                " calibration needs to be trustworthy: add frontal, recent photos from different days,"
                f" then run facegate politicians calibrate {p.slug}"
            )
        elif p.profile.tolerance is None and p.profile.review_band is None:
            notes.append(f"{p.slug} is not calibrated: run facegate politicians calibrate {p.slug}")
        if p.calibrated is not None and (p.calibrated.photos, p.calibrated.others) != (usable, others):
            notes.append(
                f"{p.slug} was calibrated on {_photos(p.calibrated.photos)} and"
                f" {_others(p.calibrated.others)}; the folder now holds {_photos(usable)} and"
                f" {_others(others)}: run facegate politicians calibrate {p.slug}"
            )
    return notes


def _photos(count: int) -> str:
    return f"{count} reference photo{'s' * (count != 1)}"


def _others(count: int) -> str:
    return f"{count} other politician{'s' * (count != 1)}"


def _faces(count: int) -> str:
    return "no face" if not count else f"{count} face{'s' * (count != 1)}"


def _display_root(reference_dir: Path) -> Path:
    """Photos are shown from the reference folder's name on (``reference_faces/obama/a.jpg``)."""
    return reference_dir.resolve().parent


def _shown(photo: Path, root: Path) -> Path:
    resolved = photo.resolve()
    return resolved.relative_to(root) if resolved.is_relative_to(root) else photo
