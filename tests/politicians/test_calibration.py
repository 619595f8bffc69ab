"""The calibration rule on distances made up to the point (``app.politicians.calibration``; the real
measurements are in ``test_trial.py``): approval a margin under the nearest stranger, review until 90 %
of the deepfakes are kept while at most 10 % of the strangers wait, and what is said when both cannot
hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from app.commands.calibrate import _write
from app.politicians.calibration import (
    APPROVE_MARGIN,
    EDGE_GAP,
    MAX_STRANGERS_REVIEW,
    MIN_KEPT,
    REVIEW_MARGIN,
    Measurement,
    Outcome,
    Rule,
    Sample,
    calibrate,
    strangers_in_review,
)
from app.politicians.calibration_text import comment_lines, table_lines
from app.politicians.profiles import TOLERANCE_MIN, Calibrated, calibrated, with_calibration

MAX_APPROVE = 0.6


def _measured(
    fakes: Sequence[float | None],
    strangers: Sequence[float],
    genuine: Sequence[float] = (0.3, 0.35),
    photos: int = 3,
) -> Measurement:
    return Measurement(
        slug="jane",
        photos=photos,
        hosts=10,
        people=len(strangers),
        deepfakes=tuple(Sample(f"swap:{i}", "swap", d) for i, d in enumerate(fakes)),
        strangers=tuple(Sample(f"bank:{i}", "stranger", d) for i, d in enumerate(strangers)),
        genuine=tuple(Sample(f"jane/{i}.jpg", "genuine", d) for i, d in enumerate(genuine)),
    )


FAKES = [0.50 + 0.01 * i for i in range(20)]  # 0.50 .. 0.69: 90 % of them (18) up to 0.67
STRANGERS = [0.70, *[0.80 + 0.01 * i for i in range(19)]]  # twenty: one may wait in review


def test_the_rule_is_facegates() -> None:
    rule = Rule(0.6, 0.76)
    assert (rule.tolerance, rule.band) == (0.68, 0.08)
    assert rule.outcome(0.599) is Outcome.APPROVED
    assert rule.outcome(0.601) is rule.outcome(0.76) is Outcome.REVIEW  # as facegate: |d - t| <= band
    assert rule.outcome(0.761) is Outcome.REJECTED
    assert rule.outcome(None) is Outcome.REJECTED


def test_approval_ends_a_margin_under_the_nearest_stranger() -> None:
    c = calibrate(_measured(FAKES, [0.62, *STRANGERS]), max_approve=MAX_APPROVE)
    assert c.rule.approve_below == pytest.approx(0.62 - APPROVE_MARGIN)
    # ... and never beyond the operator's tolerance for genuine photos.
    c = calibrate(_measured(FAKES, STRANGERS), max_approve=MAX_APPROVE)
    assert c.rule.approve_below == pytest.approx(MAX_APPROVE)
    assert c.count(c.measurement.strangers).approved == 0


def test_review_reaches_the_deepfake_the_bar_needs_plus_a_margin() -> None:
    c = calibrate(_measured(FAKES, STRANGERS), max_approve=MAX_APPROVE)
    assert c.needed == pytest.approx(0.67)
    assert c.rule.review_up_to == pytest.approx(0.67 + REVIEW_MARGIN)
    # One stranger of twenty may wait in review (0.70); the next, 0.80, is left out.
    assert c.limit == pytest.approx(0.80)
    assert c.count(c.measurement.strangers).review == 1
    assert c.count(c.fakes).kept_share >= MIN_KEPT
    assert c.meets_bar and not c.notes


def test_strangers_in_review_are_fewer_than_a_tenth_of_a_sample() -> None:
    # A tenth of all strangers would show more than this many of a sample at least half the time.
    assert [strangers_in_review(n) for n in (10, 16, 17, 21, 26, 27, 33, 100)] == [0, 0, 1, 1, 1, 2, 2, 9]


def test_review_stops_short_of_the_strangers_it_must_leave_out() -> None:
    # Thirty strangers: two may wait in review, the third must not (a plain tenth would allow three).
    strangers = [0.64, 0.65, 0.66, *[0.8 + 0.005 * i for i in range(27)]]
    c = calibrate(_measured(FAKES, strangers), max_approve=MAX_APPROVE)
    assert c.limit == pytest.approx(0.66)
    assert c.rule.review_up_to < 0.66
    count = c.count(c.measurement.strangers)
    assert count.approved == 0 and count.review == 2 and count.review_share <= MAX_STRANGERS_REVIEW


def test_when_both_cannot_hold_the_deepfakes_give_and_it_says_by_how_much() -> None:
    strangers = [0.62, 0.63, *[0.9] * 18]  # one of twenty may wait in review, not the second
    c = calibrate(_measured(FAKES, strangers), max_approve=MAX_APPROVE)
    assert c.rule.review_up_to < 0.63
    assert c.count(c.measurement.strangers).review == 1
    assert not c.meets_bar
    (note,) = c.notes
    assert note.startswith("the deepfakes give: ")
    assert "keeping 90% needs review up to 0.670, where 2 of 20 strangers (10%) would wait" in note
    assert "(at most 1 of 20)" in note
    assert "more reference photos" in note


def test_one_photo_is_weak_and_conservative() -> None:
    strangers = [0.62, *STRANGERS]
    strong = calibrate(_measured(FAKES, strangers), max_approve=MAX_APPROVE)
    weak = calibrate(_measured(FAKES, strangers, genuine=(), photos=1), max_approve=MAX_APPROVE)
    assert weak.weak and not strong.weak
    assert weak.rule.approve_below == pytest.approx(0.62 - 2 * APPROVE_MARGIN)
    assert strong.rule.approve_below == pytest.approx(0.62 - APPROVE_MARGIN)
    # Conservative where it decides alone: it approves fewer deepfakes, and review (a moderator
    # decides) keeps them, under the same strangers' share: one of twenty-one, not the second (0.70).
    assert weak.rule.review_up_to == strong.rule.review_up_to == pytest.approx(0.70 - EDGE_GAP, abs=0.002)
    assert weak.count(weak.fakes).approved < strong.count(strong.fakes).approved
    assert weak.count(weak.fakes).kept == strong.count(strong.fakes).kept
    assert weak.count(weak.measurement.strangers).review == 1
    assert any(note.startswith("weak: 1 reference photo") for note in weak.notes)


def test_a_genuine_photo_beyond_approval_is_named() -> None:
    c = calibrate(_measured(FAKES, [0.62, *STRANGERS], genuine=(0.3, 0.59)), max_approve=MAX_APPROVE)
    assert not c.meets_bar
    assert any("1 of 2 reference photos would not be approved" in note for note in c.notes)


def test_deepfakes_without_one_face_are_left_out_of_the_share() -> None:
    c = calibrate(_measured([*FAKES, None, None], STRANGERS), max_approve=MAX_APPROVE)
    assert len(c.fakes) == len(FAKES)
    assert "(2 deepfakes showed facegate no single face" in "\n".join(table_lines(c))


def test_the_comment_and_the_table_say_the_same() -> None:
    c = calibrate(_measured(FAKES, STRANGERS), max_approve=MAX_APPROVE)
    comment = "\n".join(comment_lines(c, date(2030, 1, 2)))
    table = "\n".join(table_lines(c))
    assert all(line.startswith("# ") and len(line) <= 100 for line in comment.splitlines())
    assert "on 2030-01-02" in comment
    for text in (comment, table):
        flat = " ".join(text.replace("# ", "").split())
        assert "3 reference photos, 20 deepfakes of them on 10 people of the bank (leave one out)" in flat
        assert f"approved below {c.rule.approve_below:.3f}".lower() in flat.lower()
        assert "Margins: approval ends 0.100 below the nearest stranger (bank:0, 0.700)" in flat


@pytest.mark.parametrize(("photos", "politicians"), [(1, 0), (1, 1), (3, 2), (12, 4)])
def test_the_profile_says_what_the_calibration_measured(photos: int, politicians: int) -> None:
    """`politicians check` reads the comment back to tell a calibration the folder has outgrown."""
    measured = _measured(FAKES, STRANGERS, photos=photos)
    others = tuple(Sample(f"minister-{i}", "politician", 0.9) for i in range(politicians))
    c = calibrate(replace(measured, strangers=(*measured.strangers, *others)), max_approve=MAX_APPROVE)
    profile = 'name = "Jane"\nrole = "Minister"\ncountry = "Utopia"\n'
    comment = comment_lines(c, date.today())
    text = with_calibration(profile, tolerance=c.rule.tolerance, review_band=c.rule.band, comment=comment)
    assert calibrated(text) == Calibrated(photos, politicians)
    # An older calibration's comment kept above by hand: the last one counts.
    older = calibrate(_measured(FAKES, STRANGERS, photos=7), max_approve=MAX_APPROVE)
    assert calibrated("\n".join(comment_lines(older, date.today())) + "\n\n" + text) == Calibrated(
        photos, politicians
    )
    assert calibrated(profile + "tolerance = 0.6\n") is None  # set by hand


def test_a_rule_no_profile_accepts_is_not_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A stranger of the bank at 0.2 (a photo of a near twin, or of the wrong person): approval would end
    # below what a profile accepts; written, the folder would no longer load. Said, and left alone.
    near = calibrate(_measured([0.1, 0.15, 0.2], [0.2, *STRANGERS]), max_approve=MAX_APPROVE)
    assert near.rule.tolerance < TOLERANCE_MIN and not near.approves_a_stranger
    folder = tmp_path / "jane"
    folder.mkdir()
    profile = 'name = "Jane"\nrole = "Minister"\ncountry = "Utopia"\n'
    (folder / "profile.toml").write_text(profile)
    assert not _write(folder, near)
    assert (folder / "profile.toml").read_text() == profile
    assert "jane: not written: tolerance" in capsys.readouterr().err
    assert _write(folder, calibrate(_measured(FAKES, STRANGERS), max_approve=MAX_APPROVE))
