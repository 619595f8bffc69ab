"""facegate's note: why a row it keeps has its Status, in plain words, for moderators in NocoDB's grid.

The note is a column of facegate's own (``FACEGATE_NOCODB_NOTE_FIELD``, hidden in forms), written in
the same PATCH as the Status and the stamp (``app.moderation.act``). Its first line is facegate's
decision, in the words of the README's decision table, with the numbers that led to it: the
distance and the politician's thresholds, the nudity labels and their scores, which image of
several. It is composed when facegate decides (``verdict_note``) and kept in the decision log, so
the same decision always reads the same. Later lines follow the row: the link to the reference page
while a moderator may need it, and what a moderator decided, and when (``compose``).

A note holds no uploader data: no file name, no cell the uploader typed, only facegate's reading
of the picture. Rows facegate deletes get no note (nothing is left to read it in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.faces.verdict import Verdict
from app.outcomes import Decision, Reason

__all__ = [
    "ExplicitThresholds",
    "Settlement",
    "compose",
    "facegate_line",
    "reason_words",
    "reports",
    "verdict_note",
]

# The README's decision table, for the reasons whose rows may stay in NocoDB (flagged rejections too).
_WORDS = {
    Reason.MATCH: "one face, within the politician's tolerance",
    Reason.NEAR_TOLERANCE: "one face, within the review band of the politician's tolerance (either side)",
    Reason.EXPLICIT_CONTENT: "one face, and a nudity label scoring between the review and the delete scores",
    Reason.NO_FACE: "no face",
    Reason.MULTIPLE_FACES: "more than one face",
    Reason.NO_MATCH: "one face, not within the politician's tolerance (nor the review band)",
    Reason.UNREADABLE_IMAGE: "not a decodable image",
    Reason.ANALYSIS_FAILED: "a picture the face workers could not analyse",
    Reason.NO_IMAGE: "the row has no image",
    Reason.FOREIGN_ATTACHMENT: "the row names a file its own submission did not upload",
    Reason.TOO_MANY_IMAGES: "more images, or more pixels, than one row may have",
    Reason.UNKNOWN_POLITICIAN: "the row names a politician the form does not offer",
    Reason.ROW_GONE: "the row was deleted before facegate decided it",
    Reason.NO_CONSENT: "the consent box is not ticked",
    Reason.MODERATOR: "decided by a moderator",
}
_HEADINGS = {
    Decision.APPROVED: "Approved",
    Decision.REVIEW: "Waits for a moderator",
    Decision.REJECTED: "Rejected",
}
# What NocoDB's grid shows well in a cell; a note is never longer (a forged long label is cut).
MAX_NOTE_CHARS = 1000


@dataclass(frozen=True)
class ExplicitThresholds:
    """The nudity gate's scores: from ``review`` a moderator decides, from ``reject`` it is deleted."""

    review: float
    reject: float


@dataclass(frozen=True)
class Settlement:
    """What a moderator did to the row, as facegate saw it (the Status cell), and when."""

    decision: Decision
    at: float
    # A rejection not yet carried out: the row is deleted then, unless the Status changes back.
    deletes_at: float | None = None


def reason_words(reason: Reason) -> str:
    return _WORDS[reason]


def verdict_note(
    verdict: Verdict,
    *,
    politician: str | None,
    explicit: ExplicitThresholds,
    image: int = 1,
    images: int = 1,
) -> str:
    """facegate's first line for one image's verdict (the image that decided the row, ``image`` of
    ``images``); ``politician`` is the name to show for ``verdict.politician``."""
    words = _WORDS[verdict.reason]
    name = politician or verdict.politician
    if name and verdict.reason in {Reason.MATCH, Reason.NEAR_TOLERANCE, Reason.NO_MATCH}:
        words = words.replace("the politician's", f"{name}'s")
    parts = [f"{_HEADINGS[verdict.decision]}: {words}."]
    distance = _distance(verdict)
    if distance is not None:
        approve, delete = verdict.tolerance - verdict.review_band, verdict.tolerance + verdict.review_band
        parts.append(
            f"Distance {distance:.3f} (approved at {approve:.3f} or less, deleted above {delete:.3f})."
        )
    if verdict.explicit:
        found = ", ".join(f"{f.label} {f.score:.2f}" for f in verdict.explicit)
        scores = f"a moderator decides from {explicit.review:.2f}, deleted from {explicit.reject:.2f}"
        parts.append(f"Found {found} ({scores}).")
    if images > 1:
        parts.append(f"Image {image} of {images}.")
    return " ".join(parts)[:MAX_NOTE_CHARS]


def _distance(verdict: Verdict) -> float | None:
    """The one face's distance to the politician decided on; None for no face, several, or no one."""
    if len(verdict.faces) != 1 or verdict.politician is None:
        return None
    return verdict.faces[0].distances.get(verdict.politician)


def compose(
    first_line: str | None,
    reason: Reason,
    decision: Decision,
    *,
    link: tuple[str, float] | None = None,
    settled: Settlement | None = None,
) -> str:
    """The whole note: facegate's line (``first_line``, else the reason's words, for a decision read
    back from a stamp), the reference page's link and its expiry while the row waits, and what a
    moderator did."""
    lines = [first_line or f"{_HEADINGS[decision]}: {_WORDS[reason]}."]
    if link is not None:
        url, expires_at = link
        lines.append(f"Reference photos and distances: {url} (valid until {_time(expires_at)})")
    if settled is not None:
        line = f"{_HEADINGS[settled.decision]} by a moderator at {_time(settled.at)}"
        if settled.decision is Decision.REVIEW:
            line = f"A moderator's rejection was taken back at {_time(settled.at)}"
        if settled.deletes_at is not None:
            line += f": the row is deleted at {_time(settled.deletes_at)} unless its Status is changed back"
        lines.append(line + ".")
    return "\n".join(lines)[:MAX_NOTE_CHARS]


def facegate_line(note: str | None) -> str | None:
    """facegate's own line of a note read back from NocoDB (a log rebuilt from the stamps keeps the
    numbers it gave); None when the note does not start with one."""
    first = (note or "").split("\n", 1)[0][:MAX_NOTE_CHARS]
    return first if first.startswith(tuple(f"{heading}: " for heading in _HEADINGS.values())) else None


def reports(note: str | None, decision: Decision) -> bool:
    """The note already ends with a moderator's ``decision`` (carried out): written again, it would
    only change the time (the same decision followed after a rebuilt log)."""
    last = (note or "").rsplit("\n", 1)[-1]
    return (
        decision is not Decision.REVIEW
        and last.startswith(f"{_HEADINGS[decision]} by a moderator at ")
        and (": the row is deleted at" not in last)
    )


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
