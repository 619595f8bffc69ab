"""Calibration on real faces (real dlib, the real bank, the sample photos): a politician the calibration
has never seen is added with `facegate politicians add` as a campaign would, calibrated at the end, and
its rule judged on deepfakes made onto people the bank does not hold (``harness.calibration``).

The bank is fetched into ``data/bank`` of the checkout on first use (``make setup`` does it too), and
its faces are cached there; the reference cache lives in a temporary data folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.config import Settings
from app.politicians.bank_people import BANK
from app.politicians.calibration import MAX_STRANGERS_REVIEW, MIN_KEPT, Calibration
from app.politicians.profiles import read_politicians
from app.politicians.trial import Trial
from harness.calibration import judge, measure_unseen, rule_of, start_trial
from harness.deepfakes import GENUINE, NEW_POLITICIANS, OUTSIDE, POLITICIAN_PHOTOS
from harness.images import ROOT, SAMPLES

BANK_DIR = ROOT / "data" / "bank"
NEW = "cage"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"), bank_dir=BANK_DIR)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> tuple[Path, int, str]:
    """The demo politicians, and Nicolas Cage added by `facegate politicians add` from two photos:
    its exit status and what it printed."""
    folder = tmp_path_factory.mktemp("campaign") / "reference_faces"
    shutil.copytree(ROOT / "reference_faces", folder)
    photos = [str(SAMPLES / photo) for photo in NEW_POLITICIANS[NEW]]
    args = ["politicians", "add", NEW, "--name", "Nicolas Cage", "--role", "Minister", "--country", "Film"]
    env = {"FACEGATE_DATA_DIR": str(settings.data_dir), "FACEGATE_BANK_DIR": str(BANK_DIR)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.chdir(folder.parent)  # no .env of the checkout
        out = io.StringIO()  # a module-scoped fixture cannot take capsys
        with contextlib.redirect_stdout(out):
            status = main([*args, "--reference-dir", str(folder), *photos])
    return folder, status, out.getvalue()


@pytest.fixture(scope="module")
def trial(settings: Settings) -> Iterator[Trial]:
    with start_trial(settings) as running:
        yield running


@pytest.fixture(scope="module")
def judged(campaign: tuple[Path, int, str], trial: Trial, settings: Settings) -> Calibration:
    """The new politician's written rule on the generated set: deepfakes of its photos onto the sample
    people, every sample person and the demo politicians as strangers."""
    folder, _, _ = campaign
    politicians = read_politicians(folder)
    new = next(p for p in politicians if p.slug == NEW)
    others = [p for p in politicians if p.slug != NEW]
    measured = measure_unseen(trial, new, others, sources=NEW_POLITICIANS[NEW])
    return judge(measured, rule_of(new, settings), settings.tolerance)


@pytest.fixture(scope="module")
def shipped(trial: Trial, settings: Settings) -> dict[str, Calibration]:
    """The demo politicians' rules as `facegate politicians calibrate --all` wrote them into their
    profiles, on the generated set (deepfakes of their sample photos onto people outside the bank)."""
    politicians = read_politicians(ROOT / "reference_faces")
    judged = {}
    for politician in politicians:
        others = [p for p in politicians if p.slug != politician.slug]
        slug = politician.slug
        measured = measure_unseen(
            trial, politician, others, sources=POLITICIAN_PHOTOS[slug], genuine=GENUINE.get(slug, ())
        )
        judged[slug] = judge(measured, rule_of(politician, settings), settings.tolerance)
    return judged


@pytest.mark.parametrize("slug", ["obama", "biden"])
def test_the_demo_rules_keep_nine_deepfakes_in_ten_approve_every_genuine_photo_and_no_stranger(
    shipped: dict[str, Calibration], slug: str
) -> None:
    judged = shipped[slug]
    fakes, genuine = judged.count(judged.fakes), judged.count(judged.measurement.genuine)
    assert fakes.kept_share >= MIN_KEPT, judged.by_kind
    assert judged.count(judged.measurement.strangers).approved == 0
    assert genuine.approved == genuine.n == len(GENUINE.get(slug, ()))


@pytest.mark.parametrize(
    "slug",
    [
        "obama",
        pytest.param(
            "biden",
            marks=pytest.mark.xfail(
                strict=True,
                reason="issue 23: Biden's one-photo rule, calibrated on the 58-person bank, holds 2 of the 12"
                " strangers of the generated set in review (a tenth allows 1)",
            ),
        ),
    ],
)
def test_the_demo_rules_hold_at_most_a_tenth_of_the_strangers_in_review(
    shipped: dict[str, Calibration], slug: str
) -> None:
    judged = shipped[slug]
    strangers = judged.count(judged.measurement.strangers)
    assert strangers.review_share <= MAX_STRANGERS_REVIEW, [
        (s.name, s.distance) for s in judged.measurement.strangers
    ]


def test_the_generated_set_holds_no_one_the_bank_holds() -> None:
    bank = {p.photo.sha256 for p in BANK}
    for person in OUTSIDE:
        assert _sha256(SAMPLES / person.photo) not in bank
    for photos in NEW_POLITICIANS.values():
        assert not {_sha256(SAMPLES / photo) for photo in photos} & bank


def test_add_calibrates_the_new_politician_and_writes_how(campaign: tuple[Path, int, str]) -> None:
    folder, status, out = campaign
    text = (folder / NEW / "profile.toml").read_text()
    assert "# Calibrated by `facegate politicians calibrate` on " in text
    flat = " ".join(line.removeprefix("# ") for line in text.splitlines())
    assert "2 reference photos, 120 deepfakes of them on 12 people of the bank (leave one out)" in flat
    # Every person of the bank is a stranger to the politician, the hosts' own faces too.
    assert "60 strangers (58 people of the bank, 2 other politicians)" in flat
    (new,) = [p for p in read_politicians(folder) if p.slug == NEW]
    assert new.profile.tolerance is not None and new.profile.review_band is not None
    assert status == 0  # added and calibrated (its table says when the bar is missed)
    assert (
        f"added {NEW}" in out and f"{NEW}: 2 reference photos" in out and "wrote 1 of 1 profiles: cage" in out
    )
    # The demo politicians' profiles are untouched.
    for slug in ("obama", "biden"):
        assert (folder / slug / "profile.toml").read_text() == (
            ROOT / "reference_faces" / slug / "profile.toml"
        ).read_text()


def test_the_new_politicians_deepfakes_onto_people_outside_the_bank_are_kept(judged: Calibration) -> None:
    fakes = judged.count(judged.fakes)
    assert fakes.n == 2 * sum(p.host for p in OUTSIDE) * 5
    assert fakes.kept_share >= MIN_KEPT, judged.by_kind


def test_no_stranger_is_approved(judged: Calibration) -> None:
    strangers = judged.count(judged.measurement.strangers)
    assert strangers.n == len(OUTSIDE) + 2 and strangers.approved == 0


@pytest.mark.xfail(
    strict=True,
    reason="issue 23, short of the bar on this set whatever the rule: 3 of the 13 sample people"
    " (aaron_paul 0.621, t1_c 0.651, t1_e 0.683) are nearer to Cage than the deepfake his 90 %"
    " needs kept (0.685), so keeping 90 % puts 3 of 13 (23 %) in review, and 1 of 13 keeps ~75 %",
)
def test_at_most_a_tenth_of_the_strangers_outside_the_bank_wait_for_review(judged: Calibration) -> None:
    strangers = judged.count(judged.measurement.strangers)
    assert strangers.review_share <= MAX_STRANGERS_REVIEW, [
        (s.name, s.distance) for s in judged.measurement.strangers
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_dry_run_prints_the_table_draws_the_plot_and_writes_nothing(
    campaign: tuple[Path, int, str], settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _, _ = campaign
    before = (folder / "biden" / "profile.toml").read_text()
    plot = tmp_path / "biden.png"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEGATE_DATA_DIR", str(settings.data_dir))
        patch.setenv("FACEGATE_BANK_DIR", str(BANK_DIR))
        patch.chdir(folder.parent)
        args = ["politicians", "calibrate", "biden", "--dry-run", "--plot", str(plot)]
        status = main([*args, "--reference-dir", str(folder)])
    out = capsys.readouterr().out
    assert status == 1  # short of the bar: a weak calibration (one photo), as its table says
    assert out.startswith("biden: 1 reference photo, 60 deepfakes of it on 12 people of the bank")
    assert "weak: 1 reference photo" in out and "would write 1 of 1 profiles: biden" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert (folder / "biden" / "profile.toml").read_text() == before


def test_politicians_bank_lists_who_is_in_it(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEGATE_DATA_DIR", str(settings.data_dir))
        patch.setenv("FACEGATE_BANK_DIR", str(BANK_DIR))
        assert main(["politicians", "bank"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hosts (12):\n  bieber ")
    assert "strangers (46):" in out and "  crew " in out and "  hopper " in out and "left out" not in out
    assert out.rstrip().endswith(
        "people from 9 packages in "
        + f"{BANK_DIR}: 12 hosts, 46 strangers (0 photos fetched now, every checksum checked)"
    )
