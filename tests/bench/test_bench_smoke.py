"""A smoke run of `make bench` (``python -m bench.run --quick``), so the benchmark does not rot.

The quick run measures every cheap part with minimal sizes and leaves out the real-NocoDB parts by
its own ``--quick`` switch; this checks the shape of what it reports, not its speed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.run import main


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    return main(["--quick", "--out", str(out)]), out


def _positive(*values: float) -> bool:
    return all(isinstance(v, int | float) and v > 0 for v in values)


def test_files_are_written(quick: tuple[dict[str, Any], Path]) -> None:
    result, out = quick
    assert json.loads((out / "bench.json").read_text())["quick"] is True
    assert (out / "bench.png").read_bytes().startswith(b"\x89PNG")
    text = (out / "bench.txt").read_text()
    assert "verify pipeline" in text and "targets" in text and "generated set (quick" in text
    assert (out / "calibration.png").read_bytes().startswith(b"\x89PNG")
    assert set(result["skipped"]) == {"end_to_end", "memory", "instances"}


def test_pipeline_times_both_paths_and_verdicts_agree(quick: tuple[dict[str, Any], Path]) -> None:
    (row,) = quick[0]["pipeline"]
    assert _positive(row["plain"]["median"], row["plain"]["p95"], row["facegate"]["median"], row["speedup"])
    assert row["plain_verdict"] == row["facegate_verdict"] == "match"
    assert row["differences"] == []


def test_accuracy_reports_distances_and_no_difference(quick: tuple[dict[str, Any], Path]) -> None:
    accuracy = quick[0]["accuracy"]
    assert accuracy["tolerance"] == 0.6
    assert (
        accuracy["genuine"]["facegate"]["max"]
        < accuracy["tolerance"]
        < accuracy["impostor"]["facegate"]["min"]
    )
    assert accuracy["differences"] == []


def test_matcher_throughput_and_webhook(quick: tuple[dict[str, Any], Path]) -> None:
    result = quick[0]
    for row in result["matcher"]:
        assert _positive(row["matcher_s"], row["matmul_s"], row["ratio"])
    throughput = result["throughput"]
    assert set(throughput["workers"]) == {"1", "2"}
    assert _positive(throughput["scaling"], *(w["photos_per_s"] for w in throughput["workers"].values()))
    levels = result["webhook"]["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 5]
    for level in levels:
        assert level["failures"] == 0 and level["requests"] == 30
        assert _positive(level["p50_ms"], level["p99_ms"], level["requests_per_s"])


def test_levers_and_targets(quick: tuple[dict[str, Any], Path]) -> None:
    result = quick[0]
    levers = result["levers"]
    assert _positive(levers["draft"][0]["decode_draft_s"], levers["draft"][0]["decode_full_s"])
    assert all(v["same_faces_as_facegate"] == v["photos"] for v in levers["detection"]["variants"])
    assert levers["batching"]["faces"] == 2 and levers["batching"]["max_abs_difference"] < 1e-6
    assert levers["encoding"] and levers["encoding"][0]["distance_to_obama"]
    assert {t["target"] for t in result["targets"]} >= {"2 workers >= 1.7x one worker"}


def test_the_explicit_gate_is_measured_beside_the_face_pipeline(quick: tuple[dict[str, Any], Path]) -> None:
    result, out = quick
    (row,) = result["explicit"]["rows"]
    assert _positive(row["face_s"], row["gate_s"], row["ratio"], result["explicit"]["load_s"])
    assert "explicit-content gate" in (out / "bench.txt").read_text()


def test_the_shipped_rules_are_judged_on_the_generated_set(quick: tuple[dict[str, Any], Path]) -> None:
    result, out = quick
    fakes = result["deepfakes"]
    assert fakes["quick"] is True and "speed" not in fakes  # the quick run times no calibration
    for slug in ("obama", "biden"):
        shipped = fakes["shipped"][slug]
        assert set(shipped["deepfakes"]) == {"all", "swap", "shared", "morph@0.5", "morph@0.65", "morph@0.8"}
        assert shipped["strangers"]["n"] == 12  # the 11 sample people and the other demo politician
        assert 0 <= shipped["deepfakes"]["all"]["kept_share"] <= 1
        assert shipped["approve_below"] <= shipped["tolerance"] <= shipped["review_up_to"]
    assert fakes["shipped"]["obama"]["genuine"]["n"] == 5
    assert fakes["shipped"]["biden"]["deepfakes"]["all"]["n"] == 10  # one photo, two hosts, five kinds
    assert any(t["target"].startswith("generated set") for t in result["targets"])
    assert "calibration and the generated set (quick" in (out / "bench.txt").read_text()


def test_the_alignment_cost_is_measured(quick: tuple[dict[str, Any], Path]) -> None:
    alignment = quick[0]["levers"]["alignment"]
    assert [row["landmarks"] for row in alignment["rows"]] == [5, 68]
    for row in alignment["rows"]:
        assert _positive(row["landmarks_ms"], row["descriptor_ms"], row["find_faces_s"])
    assert _positive(alignment["per_face_ratio"], alignment["find_faces_ratio"])


def test_store_calls_are_timed_on_sqlite_and_postgresql(quick: tuple[dict[str, Any], Path]) -> None:
    result, out = quick
    latency = result["store_latency"]
    assert latency["jobs_per_path"] == 10
    for backend in ("sqlite", "postgresql"):
        figures = latency["backends"][backend]
        for path in ("approved", "rejected"):
            assert _positive(figures["paths"][path]["median"], figures["paths"][path]["p95"])
        assert set(figures["ops_median_ms"]) >= {"enqueue", "claim", "record_decision", "finish"}
    assert set(latency["added_ms"]) == {"approved", "rejected"}
    assert _positive(*latency["ratio"].values())
    text = (out / "bench.txt").read_text()
    assert "SQLite vs PostgreSQL" in text and "skipped instances: --quick" in text


def test_only_runs_the_parts_named(tmp_path: Path) -> None:
    result = main(["--quick", "--only", "matcher", "--out", str(tmp_path)])
    assert result["matcher"] and not {"pipeline", "store_latency", "levers"} & set(result)
    assert result["skipped"] == {}
    with pytest.raises(SystemExit):
        main(["--only", "nonsense", "--out", str(tmp_path)])


def test_rows_per_second_end_to_end_beside_the_pool_one_and_two_decodes(
    quick: tuple[dict[str, Any], Path],
) -> None:
    result, out = quick
    rows = result["rows"]
    assert rows["rows"] == 2 and rows["rounds"] == 2
    assert _positive(rows["photos_per_s"], *rows["rows_per_s"].values(), *rows["of_pool"].values())
    # The pool alone leaves the main process idle (its CPU may round to 0 ms); the face workers work
    # in every configuration (0 ms: the rows were never analysed, e.g. held).
    assert all(isinstance(v, int | float) and v >= 0 for v in rows["main_cpu_ms"].values())
    assert _positive(*rows["workers_cpu_ms"].values())
    assert rows["approved"] == rows["expected_approved"] == 2 * 5  # an untimed round and 4 timed ones
    assert rows["second_decodes"] == 2 * 2  # one per approved picture of the "two decodes" rounds
    text = (out / "bench.txt").read_text()
    assert "rows per second end to end, beside the face pool" in text and "is simulated" in text
    assert any(t["target"].startswith("end-to-end rows/s") for t in result["targets"])
