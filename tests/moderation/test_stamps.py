"""Stamps: facegate's signed record of a decision, valid only for the upload it was written for."""

from __future__ import annotations

import pytest

from app.moderation.decisions import DecisionRecord
from app.moderation.stamps import MAX_STAMP_CHARS, InvalidStamp, Stamp, StampKey
from app.outcomes import Action, Decision, Reason

KEY = StampKey("a-secret-of-facegates-own")
UPLOAD = "tbl1:7:0123456789abcdef01234567"
OTHER_UPLOAD = "tbl1:8:76543210fedcba9876543210"


def _record(politician: str | None = "obama", row_key: str = UPLOAD) -> DecisionRecord:
    return DecisionRecord(
        id=1,
        row_key=row_key,
        table_id="tbl1",
        row_id=7,
        politician=politician,
        decision=Decision.REVIEW,
        reason=Reason.NEAR_TOLERANCE,
        detail="Distance 0.62.",
        distances=[{"obama": 0.62}],
        action=Action.REVIEW,
        decided_at=1767225600.75,
        acted_at=None,
    )


def test_a_stamp_says_what_was_decided_for_which_upload() -> None:
    text = KEY.sign(Stamp.of(_record()))
    assert text.startswith(f"fg1.review.near_tolerance.obama.1767225600.{UPLOAD}.")
    assert len(text) < 120
    assert KEY.verify(text, UPLOAD) == Stamp(
        Decision.REVIEW, Reason.NEAR_TOLERANCE, "obama", 1767225600, UPLOAD
    )
    # The same record always gives the same stamp: a replay finds it written and writes nothing.
    assert KEY.sign(Stamp.of(_record())) == text
    assert KEY.verify(f"  {text}\n", UPLOAD) is not None  # as a grid may keep it


@pytest.mark.parametrize("cell", [None, "", "   "])
def test_an_empty_cell_is_no_stamp(cell: str | None) -> None:
    assert KEY.verify(cell, UPLOAD) is None


def test_politician_text_that_is_not_a_slug_is_left_out() -> None:
    # An unknown politician's verdict keeps the cell's text (any characters): the stamp keeps no text.
    stamp = Stamp.of(_record(politician="Someone. Else"))
    assert stamp.politician is None
    assert KEY.verify(KEY.sign(stamp), UPLOAD) == stamp


def _forgeries() -> dict[str, str]:
    genuine = KEY.sign(Stamp.of(_record()))
    payload, _, mac = genuine.rpartition(".")
    approved = payload.replace(".review.near_tolerance.", ".approved.match.")
    return {
        "typed in a form": "approved",
        "a guessed signature": f"{approved}.{mac}",
        "another secret": StampKey("someone-elses-secret-key").sign(Stamp.of(_record())),
        "another upload's": KEY.sign(Stamp.of(_record(row_key=OTHER_UPLOAD))),
        "the key edited to this upload's": KEY.sign(Stamp.of(_record(row_key=OTHER_UPLOAD))).replace(
            OTHER_UPLOAD, UPLOAD
        ),
        "no signature": payload,
        "a signature of other characters": f"{payload}.{'é' * 43}",
        "an unknown version": genuine.replace("fg1.", "fg2.", 1),
        "too long": genuine + "x" * MAX_STAMP_CHARS,
    }


@pytest.mark.parametrize("kind", list(_forgeries()))
def test_a_stamp_that_does_not_verify_counts_as_none(kind: str) -> None:
    with pytest.raises(InvalidStamp):
        KEY.verify(_forgeries()[kind], UPLOAD)


def test_an_outcome_facegate_does_not_know_is_refused_even_when_signed() -> None:
    # Only facegate signs, so this happens only across versions; it is no stamp either way.
    forged = Stamp.of(_record())
    payload = forged.payload().replace(".near_tolerance.", ".a_reason_from_the_future.")
    text = f"{payload}.{KEY._mac(payload)}"
    with pytest.raises(InvalidStamp, match="outcome"):
        KEY.verify(text, UPLOAD)
