"""``profile.toml`` written back as it is read (``facegate politicians add``), and a calibration written
into it (``facegate politicians calibrate``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.errors import ReferenceSetError
from app.politicians.profiles import Profile, profile_toml, read_politicians, with_calibration


def test_profile_toml_round_trips_any_text() -> None:
    profile = Profile(
        name='Jo "the" Doe', role="Ministre de l'Intérieur", country="Ísland\n", description="a\\b"
    )
    assert Profile.model_validate(tomllib.loads(profile_toml(profile))) == profile


def test_a_calibration_replaces_the_last_one_and_keeps_the_rest() -> None:
    text = (
        "# Demo profile.\n"
        'name = "Jane Doe"\n'
        'role = "Minister"\n'
        "# Calibrated by hand, long ago:\n"
        "# approved below 0.5.\n"
        "tolerance = 0.55\n"
        "review_band = 0.05\n"
        'country = "Utopia"\n'
    )
    first = with_calibration(text, tolerance=0.68, review_band=0.08, comment=["# Calibrated: first."])
    assert first == (
        "# Demo profile.\n"
        'name = "Jane Doe"\n'
        'role = "Minister"\n'
        'country = "Utopia"\n'
        "# Calibrated: first.\n"
        "tolerance = 0.68\n"
        "review_band = 0.08\n"
    )
    again = with_calibration(
        first, tolerance=0.7, review_band=0.1, comment=["# Calibrated: again.", "# (two lines)"]
    )
    assert again == first.replace("# Calibrated: first.\ntolerance = 0.68\nreview_band = 0.08\n", "") + (
        "# Calibrated: again.\n# (two lines)\ntolerance = 0.7\nreview_band = 0.1\n"
    )


@pytest.mark.parametrize(
    ("line", "words"), [("tolerance = 0.06", "tolerance"), ("review_band = 0.9", "review_band")]
)
def test_a_rule_no_calibration_gives_is_refused_with_the_folder(
    tmp_path: Path, line: str, words: str
) -> None:
    # A typo (0.06 for 0.6) would reject every upload for the politician as no_match, and delete it:
    # refused, the folder does not load and rows are held (references_not_loaded).
    folder = tmp_path / "jane-doe"
    folder.mkdir()
    (folder / "profile.toml").write_text(f'name = "Jane Doe"\n{line}\n')
    (folder / "a.jpg").write_bytes(b"jpeg")
    with pytest.raises(ReferenceSetError, match=words):
        read_politicians(tmp_path)
