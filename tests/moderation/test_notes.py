"""facegate's note for moderators: the decision in the README's words, with its numbers."""

from __future__ import annotations

from app.faces.verdict import Box, ExplicitFinding, FaceResult, Verdict
from app.moderation.notes import (
    MAX_NOTE_CHARS,
    ExplicitThresholds,
    Settlement,
    compose,
    facegate_line,
    reports,
    verdict_note,
)
from app.outcomes import Decision, Reason

BOX = Box(top=10, right=60, bottom=60, left=10)
GATE = ExplicitThresholds(review=0.3, reject=0.6)
T = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def _verdict(decision: Decision, reason: Reason, distance: float, **extra: object) -> Verdict:
    face = FaceResult(box=BOX, distances={"obama": distance, "biden": 0.9}, best_match=None)
    return Verdict(decision, reason, "obama", [face], tolerance=0.667, review_band=0.077, **extra)  # type: ignore[arg-type]


def test_a_face_near_the_tolerance_gives_its_distance_and_both_thresholds() -> None:
    note = verdict_note(
        _verdict(Decision.REVIEW, Reason.NEAR_TOLERANCE, 0.6312), politician="Barack Obama", explicit=GATE
    )
    assert note == (
        "Waits for a moderator: one face, within the review band of Barack Obama's tolerance (either"
        " side). Distance 0.631 (approved at 0.590 or less, deleted above 0.744)."
    )


def test_an_approved_face_gives_its_distance() -> None:
    note = verdict_note(
        _verdict(Decision.APPROVED, Reason.MATCH, 0.41), politician="Barack Obama", explicit=GATE
    )
    assert note.startswith("Approved: one face, within Barack Obama's tolerance. Distance 0.410 ")


def test_explicit_content_gives_each_label_and_score_and_the_gate() -> None:
    findings = [
        ExplicitFinding("FEMALE_BREAST_EXPOSED", 0.4512, BOX),
        ExplicitFinding("BUTTOCKS_EXPOSED", 0.31, BOX),
    ]
    verdict = _verdict(Decision.REVIEW, Reason.EXPLICIT_CONTENT, 0.5, explicit=findings)
    note = verdict_note(verdict, politician="Barack Obama", explicit=GATE, image=2, images=3)
    assert note.startswith("Waits for a moderator: one face, and a nudity label scoring between the review")
    assert (
        "Found FEMALE_BREAST_EXPOSED 0.45, BUTTOCKS_EXPOSED 0.31"
        " (a moderator decides from 0.30, deleted from 0.60)." in note
    )
    assert note.endswith("Image 2 of 3.")


def test_no_face_has_no_distance_and_a_forged_label_cannot_grow_the_note() -> None:
    empty = Verdict(Decision.REJECTED, Reason.NO_FACE, "obama", [], tolerance=0.6)
    assert verdict_note(empty, politician=None, explicit=GATE) == "Rejected: no face."
    long = [ExplicitFinding("X" * 5000, 0.9, BOX)]
    assert (
        len(
            verdict_note(
                _verdict(Decision.REJECTED, Reason.EXPLICIT_CONTENT, 0.5, explicit=long),
                politician=None,
                explicit=GATE,
            )
        )
        <= MAX_NOTE_CHARS
    )


def test_the_note_follows_the_row_link_then_what_a_moderator_did() -> None:
    first = "Waits for a moderator: one face, within the review band."
    link = ("https://facegate.example/review/abc.def", T + 86400)
    waiting = compose(first, Reason.NEAR_TOLERANCE, Decision.REVIEW, link=link)
    assert waiting.splitlines() == [
        first,
        "Reference photos and distances: https://facegate.example/review/abc.def"
        " (valid until 2027-01-16 08:00 UTC)",
    ]
    pending = compose(
        first,
        Reason.NEAR_TOLERANCE,
        Decision.REVIEW,
        link=link,
        settled=Settlement(Decision.REJECTED, T, T + 600),
    )
    assert pending.splitlines()[-1] == (
        "Rejected by a moderator at 2027-01-15 08:00 UTC: the row is deleted at 2027-01-15 08:10 UTC"
        " unless its Status is changed back."
    )
    approved = compose(
        first, Reason.NEAR_TOLERANCE, Decision.REVIEW, settled=Settlement(Decision.APPROVED, T)
    )
    assert approved.splitlines() == [first, "Approved by a moderator at 2027-01-15 08:00 UTC."]
    back = compose(first, Reason.NEAR_TOLERANCE, Decision.REVIEW, settled=Settlement(Decision.REVIEW, T))
    assert back.splitlines()[-1] == "A moderator's rejection was taken back at 2027-01-15 08:00 UTC."


def test_a_decision_without_its_line_is_said_in_the_readmes_words() -> None:
    # Restored from a stamp, or decided before notes existed.
    assert compose(None, Reason.NEAR_TOLERANCE, Decision.REVIEW) == (
        "Waits for a moderator: one face, within the review band of the politician's tolerance (either side)."
    )
    assert compose(None, Reason.NO_MATCH, Decision.REJECTED).startswith("Rejected: one face, not within")


def test_facegates_line_and_a_moderators_decision_are_read_back_from_a_note() -> None:
    first = "Waits for a moderator: one face, within the review band. Distance 0.384 (approved at 0.317)."
    note = compose(first, Reason.NEAR_TOLERANCE, Decision.REVIEW, settled=Settlement(Decision.APPROVED, T))
    assert facegate_line(note) == first
    assert facegate_line("typed by someone\nWaits for a moderator: x") is None and facegate_line(None) is None
    assert reports(note, Decision.APPROVED) and not reports(note, Decision.REJECTED)
    pending = compose(
        first, Reason.NEAR_TOLERANCE, Decision.REVIEW, settled=Settlement(Decision.REJECTED, T, T + 1)
    )
    assert not reports(pending, Decision.REJECTED)  # not carried out yet: its deletion follows
