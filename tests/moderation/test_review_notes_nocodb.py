"""Issue 24 end to end, on the real NocoDB: facegate's note for moderators, the Review view, a
moderator's rejection and its grace period, the reference page opened from the note's link in
headless Chromium, and the review metrics.

facegate reaches NocoDB through a counting proxy, which keeps the cells of each of its PATCHes: a
decision is one PATCH of Status, stamp and note together. Moderators' PATCHes go to NocoDB directly,
with the API token, as the grid sends them. A borderline upload is obama2.jpg under a wide review
band (as in test_moderators_nocodb). The screenshot is kept in ``artifacts/review-page-nocodb.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver

from app.erasure.local import stored_location
from app.moderation.links import ReviewLinks
from app.moderation.rows import parse_row, row_key
from harness.facegate import STAMP_SECRET
from harness.images import ROOT, demo_rule, sample
from harness.loop import FIELDS, Loop, running_loop
from harness.nocodb import LocalNocoDB
from harness.proxy import CountingProxy
from tests.moderation.test_moderators_nocodb import WIDE_BAND, _references_with_wide_band

GRACE_SECONDS = 4
ARTIFACTS = ROOT / "artifacts"
OBAMA_TOLERANCE, _ = demo_rule("obama")
NOTE = FIELDS.note
STAMP = FIELDS.stamp
FIRST_LINE = re.compile(
    r"Waits for a moderator: one face, within the review band of Barack Obama's tolerance \(either side\)\."
    r" Distance (?P<distance>[0-9.]+) \(approved at (?P<approve>[0-9.]+) or less,"
    r" deleted above (?P<delete>[0-9.]+)\)\.$"
)
LINK_LINE = re.compile(r"^Reference photos and distances: (?P<url>\S+) \(valid until [0-9-]+ [0-9:]+ UTC\)$")
TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC"
PENDING = re.compile(
    rf"^Rejected by a moderator at {TIME}: the row is deleted at {TIME} unless its Status is changed back\.$"
)
IMAGES_SCRIPT = """
return Array.from(document.images).map((img) => ({
  alt: img.alt, loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
  left: img.getBoundingClientRect().left, top: img.getBoundingClientRect().top,
}));
"""


@dataclass(frozen=True)
class Setup:
    loop: Loop
    proxy: CountingProxy


@pytest.fixture(scope="module")
def setup(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    references = _references_with_wide_band(tmp_path_factory.mktemp("refs") / "reference_faces")
    env = {
        "FACEGATE_REFERENCE_DIR": str(references),
        "FACEGATE_MODERATOR_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    port = urlsplit(nocodb.url).port
    assert port is not None
    with (
        CountingProxy(port, latency=0, pause=0) as proxy,
        running_loop(
            nocodb,
            tmp_path_factory.mktemp("facegate"),
            base_title="review notes",
            facegate_nocodb_url=proxy.url,
            sweep_seconds=2,
            extra_env=env,
        ) as loop,
    ):
        yield Setup(loop, proxy)


@pytest.fixture(scope="module")
def loop(setup: Setup) -> Loop:
    return setup.loop


def _cells(loop: Loop, row: dict[str, Any]) -> dict[str, Any]:
    current = loop.row(row["Id"])
    return current or {}


def _note(loop: Loop, row: dict[str, Any]) -> list[str]:
    return str(_cells(loop, row).get(NOTE) or "").splitlines()


def _in_review(loop: Loop) -> dict[str, Any]:
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.until(lambda: _cells(loop, row).get(FIELDS.status) == "review", "never set to review")
    return row


def _moderator_sets(loop: Loop, row: dict[str, Any], status: str) -> None:
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.patch(records, json={"Id": row["Id"], FIELDS.status: status}).raise_for_status()


def _moderator_rejects(loop: Loop, row: dict[str, Any]) -> tuple[float, list[str]]:
    """Status ``rejected``; when facegate's note says the row waits for its deletion, and the note."""
    _moderator_sets(loop, row, "rejected")
    note = loop.until(lambda: (n := _note(loop, row)) and PENDING.match(n[-1]) and n, "no pending note")
    return time.monotonic(), note


def _key(loop: Loop, row: dict[str, Any]) -> str:
    return row_key(loop.setup.table_id, parse_row(row, FIELDS))


def _shown(loop: Loop) -> set[int]:
    items = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]
    return {item["id"] for item in items}


def _link(loop: Loop, row: dict[str, Any]) -> str:
    """The reference page's link, as a moderator reads it in the row's note in NocoDB."""
    [url] = [m["url"] for line in _note(loop, row) if (m := LINK_LINE.match(line))]
    return str(url)


def test_a_near_tolerance_row_carries_its_reason_numbers_and_link_in_one_patch(setup: Setup) -> None:
    loop, proxy = setup.loop, setup.proxy
    before = len(proxy.patches)
    row = _in_review(loop)
    time.sleep(1.5)  # facegate's own PATCH fired an update event: it must write nothing more
    cells = _cells(loop, row)
    first, link_line, *rest = str(cells[NOTE]).splitlines()
    found = FIRST_LINE.match(first)
    assert found is not None, first
    distance, approve, delete = (float(found[name]) for name in ("distance", "approve", "delete"))
    assert approve == pytest.approx(OBAMA_TOLERANCE - WIDE_BAND, abs=5e-4)
    assert delete == pytest.approx(OBAMA_TOLERANCE + WIDE_BAND, abs=5e-4)
    assert approve < distance <= delete
    link = LINK_LINE.match(link_line)
    assert link is not None and link["url"].startswith(f"{loop.facegate.url}/review/"), link_line
    assert rest == []
    # One PATCH for the decision, and the Status, the stamp and the note in it.
    patches = [item for items in proxy.patches[before:] for item in items if item.get("Id") == row["Id"]]
    assert len(patches) == 1, patches
    [patch] = patches
    assert set(patch) == {"Id", FIELDS.status, STAMP, NOTE}
    assert (patch[FIELDS.status], patch[NOTE]) == ("review", cells[NOTE])
    assert cells[STAMP] == patch[STAMP] and cells[STAMP]


def test_the_review_view_lists_exactly_the_rows_in_review(loop: Loop) -> None:
    waiting = _in_review(loop)
    approved = loop.submit("obama", sample("obama.jpg"))  # a reference photo: well within tolerance
    loop.wait_final(approved, "approved")
    view_id = loop.setup.review_view_id
    assert view_id is not None
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        everything = api.get(records, params={"limit": 1000}).raise_for_status().json()["list"]
        listed = api.get(records, params={"viewId": view_id, "limit": 1000}).raise_for_status().json()["list"]
    statuses = {row["Status"] for row in everything}
    assert {"review", "approved"} <= statuses  # rows in other states are in the table
    in_review = [row["Id"] for row in everything if row["Status"] == "review"]
    assert sorted(row["Id"] for row in listed) == sorted(in_review)
    assert waiting["Id"] in in_review and approved["Id"] not in in_review


def test_a_rejection_changed_back_to_approved_in_the_grace_period_publishes_the_row(setup: Setup) -> None:
    loop = setup.loop
    row = _in_review(loop)
    before = _shown(loop)
    patched = len(setup.proxy.patches)
    rejected_at, note = _moderator_rejects(loop, row)
    assert _cells(loop, row)[FIELDS.status] == "rejected"
    assert any(LINK_LINE.match(line) for line in note)  # the moderator may still need the page
    _moderator_sets(loop, row, "approved")
    loop.until(lambda: _shown(loop) - before, "not published")
    approved = loop.until(
        lambda: (n := _note(loop, row)) and n[-1].startswith("Approved by a moderator at") and n,
        "no approval in the note",
    )
    assert not any(LINK_LINE.match(line) for line in approved)  # settled: no link any more
    time.sleep(max(0.0, rejected_at + GRACE_SECONDS + 2 - time.monotonic()))
    assert _cells(loop, row)[FIELDS.status] == "approved"  # kept after the grace period
    assert _shown(loop) - before
    # facegate wrote the note twice (the rejection pending, the approval), and never the Status.
    mine = [item for items in setup.proxy.patches[patched:] for item in items if item.get("Id") == row["Id"]]
    assert [set(item) for item in mine] == [{"Id", NOTE}, {"Id", NOTE}], mine


def test_a_rejection_left_alone_deletes_the_row_after_the_grace_period_and_erases_its_files(
    loop: Loop,
) -> None:
    row = _in_review(loop)
    location = stored_location(row[FIELDS.image][0])
    assert location is not None
    original = loop.nocodb.uploads_dir / location
    assert original.exists()
    rejected_at, _ = _moderator_rejects(loop, row)
    time.sleep(1)
    assert loop.row(row["Id"]) is not None and original.exists()  # within the grace period
    loop.until(lambda: loop.row(row["Id"]) is None, "not deleted after the grace period")
    assert time.monotonic() - rejected_at >= GRACE_SECONDS - 1.5  # not before its time
    key = _key(loop, row)

    def purge() -> dict[str, Any] | None:
        purges = [d["purge"] for d in loop.decisions(row["Id"]) if d["row_key"] == key and d["purge"]]
        return purges[0] if purges and purges[0]["state"] == "done" else None

    done = loop.until(purge, "files not erased")
    assert done["files"] >= 1 and not original.exists()
    decided = [
        (d["source"], d["decision"], d["action"]) for d in loop.decisions(row["Id"]) if d["row_key"] == key
    ]
    assert decided[0] == ("moderator", "rejected", "deleted")


def test_a_rejection_changed_back_to_review_keeps_the_row_and_says_so(loop: Loop) -> None:
    row = _in_review(loop)
    rejected_at, _ = _moderator_rejects(loop, row)
    _moderator_sets(loop, row, "review")
    note = loop.until(
        lambda: (
            (n := _note(loop, row)) and n[-1].startswith("A moderator's rejection was taken back at") and n
        ),
        "no taking back in the note",
    )
    assert FIRST_LINE.match(note[0]) and LINK_LINE.match(note[1]), note  # it waits again, with its link
    time.sleep(max(0.0, rejected_at + GRACE_SECONDS + 2 - time.monotonic()))
    assert _cells(loop, row)[FIELDS.status] == "review"
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        params = {"viewId": loop.setup.review_view_id, "limit": 1000}
        listed = api.get(records, params=params).raise_for_status().json()["list"]
    assert row["Id"] in {r["Id"] for r in listed}


def _images(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = browser.execute_script(IMAGES_SCRIPT)
    return found


def test_the_notes_link_opens_the_upload_beside_the_references_in_chromium(
    loop: Loop, browser: webdriver.Chrome
) -> None:
    row = _in_review(loop)
    browser.get(_link(loop, row))
    shown = _images(browser)
    assert shown and shown[0]["alt"] == "Upload", shown
    assert {i["alt"] for i in shown[1:]} == {"Reference obama.jpg", "Reference obama3.jpg"}
    assert all(i["loaded"] and i["width"] > 0 for i in shown)
    upload, reference = shown[0], shown[1]
    assert abs(upload["top"] - reference["top"]) < 10 and upload["left"] < reference["left"]  # side by side
    text = browser.find_element("tag name", "body").text
    assert "Barack Obama (obama)" in text and "review band" in text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review-page-nocodb.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[no-untyped-call]
    assert errors == []


def test_an_expired_or_forged_link_is_refused_in_chromium(loop: Loop, browser: webdriver.Chrome) -> None:
    row = _in_review(loop)
    valid = _link(loop, row)
    links = ReviewLinks(STAMP_SECRET, loop.facegate.url, 86400)
    expired = links.link(
        table_id=loop.setup.table_id, row_id=row["Id"], row_key=_key(loop, row), now=time.time() - 10 * 86400
    ).url
    prefix = f"{loop.facegate.url}/review/"
    token = valid.removeprefix(prefix)
    flipped = "B" if token[5] != "B" else "C"  # in the signed payload: the MAC no longer verifies
    forged = prefix + token[:5] + flipped + token[6:]
    for url, title in ((expired, "This link expired"), (forged, "This link is not valid")):
        assert httpx.get(url, timeout=10).status_code == 403
        browser.get(url)
        assert browser.find_element("tag name", "h1").text == title
        assert _images(browser) == []
    browser.get(valid)  # the genuine link still opens
    assert _images(browser)[0]["alt"] == "Upload"


def test_facegate_writes_a_status_only_with_its_note_and_stamp_and_never_over_a_moderators(
    setup: Setup,
) -> None:
    # Every PATCH facegate sent in this module (after the tests above: decisions, a moderator's
    # approval, rejections, one taken back): a decision's Status, stamp and note together, or the
    # note alone when it follows what a moderator did.
    written = [item for items in setup.proxy.patches for item in items]
    decisions = [item for item in written if FIELDS.status in item]
    assert decisions and len(decisions) < len(written)
    for item in written:
        if FIELDS.status in item:
            assert set(item) == {"Id", FIELDS.status, STAMP, NOTE} and item[NOTE] and item[STAMP], item
        else:
            assert set(item) == {"Id", NOTE} and item[NOTE], item


def test_the_metrics_count_the_reviews_settled_by_outcome(loop: Loop) -> None:
    # Last in the module: its moderators approved (after a rejection), rejected three times, and
    # took a rejection back.
    settled = {
        outcome: loop.facegate.metric("facegate_reviews_settled_total", outcome=outcome)
        for outcome in ("approved", "rejected", "taken_back")
    }
    assert settled["approved"] >= 1 and settled["rejected"] >= 3 and settled["taken_back"] >= 1, settled
