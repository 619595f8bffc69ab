"""The carousel page in a real browser (Debian's headless Chromium, driven by Selenium), fed by
uploads that went through the real NocoDB form and facegate's moderation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver

from harness.images import ROOT, sample
from harness.loop import Loop, running_loop
from harness.nocodb import LocalNocoDB

ARTIFACTS = ROOT / "artifacts"
PAGE_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    with running_loop(nocodb, tmp_path_factory.mktemp("facegate"), base_title="carousel") as running:
        yield running


CARDS_SCRIPT = """
return Array.from(document.querySelectorAll('.card')).map((card) => {
  const img = card.querySelector('img.carousel-image');
  return {
    slug: card.dataset.politician,
    name: card.querySelector('.name').textContent,
    role: card.querySelector('.role').textContent,
    country: card.querySelector('.country').textContent,
    labels: Array.from(card.querySelectorAll('dt')).map((dt) => dt.textContent),
    empty: !card.querySelector('.empty').hidden,
    src: img.hidden ? null : img.getAttribute('src'),
    loaded: !img.hidden && img.complete && img.naturalWidth > 0,
  };
});
"""


def _cards(browser: webdriver.Chrome, ready: Any) -> list[dict[str, Any]]:
    """Poll the page until ``ready(cards)`` holds."""
    deadline = time.monotonic() + PAGE_TIMEOUT_SECONDS
    cards: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        cards = browser.execute_script(CARDS_SCRIPT)
        if cards and ready(cards):
            return cards
        time.sleep(0.2)
    raise AssertionError(f"the page never got ready: {cards}")


def test_empty_state_invites_uploads(loop: Loop, browser: webdriver.Chrome) -> None:
    browser.get(loop.facegate.url + "/")
    cards = _cards(browser, lambda cards: all(c["empty"] for c in cards))
    assert {c["slug"] for c in cards} == {"obama", "biden"}
    assert "No approved uploads yet" in browser.find_element("css selector", ".card .empty").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "carousel-empty.png"))


def test_approved_uploads_show_under_the_right_politician(loop: Loop, browser: webdriver.Chrome) -> None:
    uploads = [("obama", "obama2.jpg", "approved"), ("obama", "obama3.jpg", "approved")]
    uploads += [("biden", "biden.jpg", "approved"), ("obama", "biden.jpg", "deleted")]
    for politician, photo, expected in uploads:
        loop.wait_final(loop.submit(politician, sample(photo)), expected)
    approved = httpx.get(f"{loop.facegate.url}/approved").json()["items"]
    by_politician = {
        slug: [i for i in approved if i["politician"]["slug"] == slug] for slug in ("obama", "biden")
    }
    assert [len(by_politician["obama"]), len(by_politician["biden"])] == [2, 1]

    browser.get(loop.facegate.url + "/")
    cards = _cards(browser, lambda cards: all(c["loaded"] for c in cards))
    by_slug = {c["slug"]: c for c in cards}
    assert by_slug["obama"]["name"] == "Barack Obama" and by_slug["biden"]["name"] == "Joe Biden"
    assert by_slug["obama"]["labels"] == ["Official Role", "Country"]
    assert by_slug["biden"]["role"] == "46th President of the United States"
    assert by_slug["biden"]["country"] == "United States"
    for slug, card in by_slug.items():
        assert card["src"] in {i["thumbnail_url"] for i in by_politician[slug]}, (slug, card)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "carousel.png"))

    # The obama card rotates to its other upload within a few seconds.
    first = by_slug["obama"]["src"]
    rotated = _cards(browser, lambda cards: any(c["slug"] == "obama" and c["src"] != first for c in cards))
    assert {c["slug"]: c for c in rotated}["obama"]["loaded"] in {True, False}
    assert {c["src"] for c in rotated if c["slug"] == "obama"} <= {
        i["thumbnail_url"] for i in by_politician["obama"]
    }


def test_an_approved_row_deleted_by_a_moderator_leaves_the_carousel(loop: Loop) -> None:
    row = loop.submit("biden", sample("biden.jpg"))
    loop.wait_final(row, "approved")
    items = httpx.get(f"{loop.facegate.url}/approved", params={"limit": 100}).json()["items"]
    mine = max(items, key=lambda i: i["id"])
    assert httpx.get(loop.facegate.url + mine["thumbnail_url"]).status_code == 200
    with loop.api() as api:
        api.request(
            "DELETE", f"/api/v2/tables/{loop.setup.table_id}/records", json=[{"Id": row["Id"]}]
        ).raise_for_status()
    deadline = time.monotonic() + 30  # the loop's facegate sweeps every 5 s
    while time.monotonic() < deadline:
        ids = {
            i["id"] for i in httpx.get(f"{loop.facegate.url}/approved", params={"limit": 100}).json()["items"]
        }
        if mine["id"] not in ids:
            break
        time.sleep(0.5)
    assert mine["id"] not in ids
    assert httpx.get(loop.facegate.url + mine["thumbnail_url"]).status_code == 404
