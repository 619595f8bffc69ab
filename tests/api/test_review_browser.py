"""The reference page in headless Chromium: a moderator opens the note's link and sees the upload
beside the politician's reference photos; an expired or forged link shows a refusal.

facegate is a real server (uvicorn, on loopback) over the fake NocoDB; the browser has no operator
key. The screenshot is kept in ``artifacts/review-page.png``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from selenium import webdriver

from app.assembly import Runtime
from app.main import create_app
from harness.images import ROOT, demo_rule, sample
from harness.net import HOST, free_port
from tests.utils.fake_nocodb import FakeNocoDB
from tests.utils.review import QuietNocoDB, decided, link, review_settings

# Chromium is installed by `make test` (its `browser` target), not by `make test-fast`: this runs
# with the other browser tests, deselected by `-m "not integration"`.
pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "artifacts"
START_TIMEOUT_SECONDS = 60.0
IMAGES_SCRIPT = """
return Array.from(document.images).map((img) => ({
  alt: img.alt, loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
  left: img.getBoundingClientRect().left, top: img.getBoundingClientRect().top,
}));
"""


class Facegate:
    """facegate served by uvicorn in a thread of the test process, and its runtime."""

    def __init__(self, server: uvicorn.Server, url: str) -> None:
        self.server = server
        self.url = url

    @property
    def runtime(self) -> Runtime:
        app: Any = self.server.config.app
        runtime: Runtime = app.state.runtime
        return runtime


@pytest.fixture(scope="module")
def fake() -> FakeNocoDB:
    return FakeNocoDB()


@pytest.fixture(scope="module")
def facegate(
    fake: FakeNocoDB, reference_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Facegate]:
    port = free_port()
    url = f"http://{HOST}:{port}"
    settings = review_settings(reference_dir, tmp_path_factory.mktemp("data"), url)
    app = create_app(settings, nocodb_transport=httpx.MockTransport(QuietNocoDB(fake).handler))
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "facegate did not start"
        time.sleep(0.1)
    try:
        yield Facegate(server, url)
    finally:
        server.should_exit = True
        thread.join(30)


def images(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = browser.execute_script(IMAGES_SCRIPT)
    return found


def test_the_note_link_opens_the_upload_beside_the_references(
    facegate: Facegate, fake: FakeNocoDB, browser: webdriver.Chrome
) -> None:
    tolerance, band = demo_rule("obama")  # reference_faces/obama/profile.toml; a distance in its band
    sent = ("obama2.jpg", sample("obama2.jpg"))
    key = decided(fake, facegate.runtime.decisions, 601, sent, distance=tolerance + 0.001)
    browser.get(link(facegate.url, 601, key))
    shown = images(browser)
    assert [i["alt"] for i in shown] == ["Upload", "Reference obama.jpg", "Reference obama3.jpg"]
    assert all(i["loaded"] and 0 < i["width"] <= 320 for i in shown)
    upload, reference = shown[0], shown[1]
    # Side by side: one line, the upload first (its frame is 2 px thicker).
    assert abs(upload["top"] - reference["top"]) < 10 and upload["left"] < reference["left"]
    text = browser.find_element("tag name", "body").text
    assert "Barack Obama (obama)" in text and f"{tolerance + 0.001:.3f} review band" in text
    edges = f"approved at or below {tolerance - band:.3f}, review above that up to {tolerance + band:.3f}"
    assert f"{edges}, deleted above it" in text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review-page.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[no-untyped-call]
    assert errors == []  # nothing the CSP refused


def test_an_expired_or_forged_link_shows_a_refusal(
    facegate: Facegate, fake: FakeNocoDB, browser: webdriver.Chrome
) -> None:
    key = decided(fake, facegate.runtime.decisions, 602, ("obama3.jpg", sample("obama3.jpg")))
    browser.get(link(facegate.url, 602, key, now=time.time() - 10 * 86400))
    assert browser.find_element("tag name", "h1").text == "This link expired"
    assert images(browser) == []
    valid = link(facegate.url, 602, key)
    browser.get(valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB"))
    assert browser.find_element("tag name", "h1").text == "This link is not valid"
    assert images(browser) == []
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "review-page-refused.png"))
