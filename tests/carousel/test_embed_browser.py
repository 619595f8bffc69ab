"""The carousel on the campaign's own page (``/embed.js``), in headless Chromium.

A static site on a second loopback origin holds the campaign's markup and one script tag; facegate
moderates real uploads of a real NocoDB form, and a moderator deletes rows in NocoDB. Then the same
over https: Caddy, configured by the shipped ``deploy/caddy/Caddyfile``, terminates TLS for facegate
and for the campaign's page with its internal certificate authority.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from harness.caddy import TESTED_VERSION, LocalCaddy, installed_version, running_caddy
from harness.images import ROOT, sample
from harness.loop import Loop, running_loop
from harness.net import HOST, free_port
from harness.nocodb import LocalNocoDB
from tests.utils.browser import start_chromium

ARTIFACTS = ROOT / "artifacts"
FORM_URL = "https://forms.campaign.example/upload"
# The carousel polls every 15 s; a moderation round trip takes a few seconds more.
POLL_SECONDS = 15.0
CHANGE_TIMEOUT_SECONDS = 60.0
PAGE_TIMEOUT_SECONDS = 30.0
ONE_EACH = {"obama": 1, "biden": 1}

# The campaign's own look: its template's classes, styled by its own stylesheet.
CAMPAIGN_CSS = """
body { margin: 0 2rem 2rem; font: 17px/1.45 Georgia, serif; background: #fffbe6; color: #222; }
h1 { color: #b00020; font-size: 1.7rem; }
.lead { max-width: 40rem; }
#clickable { color: black; background-color: #ffff01; padding: 1em; border-radius: 20px;
  border: 1px solid red; }
.deep-fake-carousel .carousel { display: flex; gap: 1rem; flex-wrap: wrap; }
.carousel-item { width: 250px; padding: .6rem; border: 3px solid #ffff01; border-radius: 12px;
  background: #111; color: #ffff01; }
img.carousel--image { display: block; width: 100%; height: 290px; object-fit: cover; border-radius: 8px; }
.info { display: block; margin-top: .4rem; }
.info .official { display: block; font-weight: bold; }
.info .country { display: block; font-style: italic; }
.info .description { margin: .3rem 0 0; font-size: .8rem; color: #ddd; }
.partners .carousel-item { width: auto; background: #fff; color: #222; }
"""
# A page whose stylesheet would wreck a carousel it styled (as Bootstrap hides .carousel-item):
# the default style must not care.
HOSTILE_CSS = """
body { margin: 0 2rem 2rem; font: 16px/1.5 system-ui, sans-serif; background: #eef3f8; color: #123; }
.carousel-item { display: none; }
img { border: 6px solid red; }
p { color: green; text-transform: uppercase; }
.facegate-carousel-slot { max-width: 560px; }
"""

HOST_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
</head>
<body>
<h1>Deepfakes work because Face Biometry derives unique facial features.</h1>
<p class="lead">The same data points can be abused to produce false images of a non consenting subject.</p>
"""
HOST_TAIL = """
<hr>
<div class="partners"><div class="carousel-item">A partner's card, not facegate's.</div></div>
<button><a id="clickable">Upload a deepfake of your Minister today!</a></button>
{script}
</body>
</html>
"""
# The markup: one container for every politician, the campaign's own template and CSS.
CAMPAIGN_BODY = '<div id="carousel-1" class="deep-fake-carousel"></div>'
# One politician per container, by display name and by slug, in the script's own style.
DEFAULT_BODY = """
<div class="facegate-carousel-slot" style="display:flex;gap:1rem">
<div data-facegate-carousel="Barack Obama" data-facegate-style="default"></div>
<div data-facegate-carousel="biden" data-facegate-style="default"></div>
</div>"""
UNKNOWN_BODY = '<div data-facegate-carousel="Petra Uno"></div>'

# What a test reads of each card, whether in the page or in a default-style shadow root.
CARDS_SCRIPT = """
const containers = document.querySelectorAll('.deep-fake-carousel, [data-facegate-carousel]');
return Array.from(containers).flatMap((container) => {
  const host = container.querySelector('.facegate-host');
  const root = host ? host.shadowRoot : container;
  return Array.from(root.querySelectorAll('.carousel-item')).map((item) => {
    const img = item.querySelector('img.carousel--image');
    const text = (selector) => item.querySelector(selector).textContent;
    return {
      slug: item.dataset.politician,
      name: text('.info .name'), official: text('.info .official'), country: text('.info .country'),
      description: text('.info p.description'),
      src: img ? img.currentSrc || img.src : null, alt: img ? img.alt : '',
      loaded: Boolean(img && img.complete && img.naturalWidth > 0),
      empty: Boolean(item.querySelector('.facegate-empty')) && !img,
      link: (item.querySelector('.facegate-empty a') || {}).href || null,
      live: item.querySelector('.facegate-position').getAttribute('aria-live'),
      shadow: Boolean(host),
    };
  });
});
"""
MESSAGES_SCRIPT = """
return Array.from(document.querySelectorAll('.deep-fake-carousel, [data-facegate-carousel]'))
  .map((container) => {
    const host = container.querySelector('.facegate-host');
    const note = (host ? host.shadowRoot : container).querySelector('.facegate-message');
    return note ? note.textContent : null;
  });
"""
# The host page as it looks: every element outside the carousel containers, with the styles that
# a stylesheet could change; and the page's globals and stylesheets.
HOST_SCRIPT = """
const inside = (el) => el.closest('.deep-fake-carousel, [data-facegate-carousel]');
const props = ['display', 'color', 'background-color', 'font-family', 'font-size', 'font-weight',
  'line-height', 'margin-top', 'margin-left', 'padding-top', 'padding-left', 'border-top-width',
  'border-top-color', 'text-transform', 'visibility', 'width'];
return {
  elements: Array.from(document.querySelectorAll('body *'))
    .filter((el) => !inside(el) && el.tagName !== 'SCRIPT')
    .map((el) => [el.tagName, el.className, ...props.map((p) => getComputedStyle(el).getPropertyValue(p))]),
  globals: Object.keys(window).sort(),
  stylesheets: document.styleSheets.length,
  adopted: document.adoptedStyleSheets.length,
  head: document.head.innerHTML,
};
"""


@dataclass(frozen=True)
class Site:
    """The campaign's static pages, served from ``url`` (facegate lists it) and ``unlisted_url``."""

    url: str
    unlisted_url: str
    folder: Path


@dataclass(frozen=True)
class Origins:
    """Ports chosen before facegate starts, so that its CORS list can name the pages' origins."""

    site: int
    unlisted: int
    https_facegate: int
    https_site: int

    def cors(self) -> str:
        return f"http://{HOST}:{self.site},https://{HOST}:{self.https_site}"


def write_pages(folder: Path, facegate_url: str) -> None:
    """The campaign's pages, loading facegate's script from ``facegate_url``; each page also comes
    ``-bare``, without the script, to compare the host page with."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "campaign.css").write_text(CAMPAIGN_CSS)
    (folder / "hostile.css").write_text(HOSTILE_CSS)
    script = f'<script src="{facegate_url}/embed.js" defer></script>'
    pages = {"campaign": ("campaign.css", CAMPAIGN_BODY), "default": ("hostile.css", DEFAULT_BODY)}
    pages["unknown"] = ("campaign.css", UNKNOWN_BODY)
    for name, (stylesheet, body) in pages.items():
        head = HOST_HEAD.format(title=f"campaign: {name}", stylesheet=stylesheet)
        for suffix, tag in (("", script), ("-bare", "")):
            (folder / f"{name}{suffix}.html").write_text(head + body + HOST_TAIL.format(script=tag))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(folder: Path, port: int) -> Iterator[str]:
    """A static web server for ``folder`` on loopback: the campaign's site."""
    server = ThreadingHTTPServer((HOST, port), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def origins() -> Origins:
    return Origins(site=free_port(), unlisted=free_port(), https_facegate=free_port(), https_site=free_port())


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory, origins: Origins) -> Iterator[Loop]:
    env = {
        "FACEGATE_CORS_ORIGINS": origins.cors(),
        "FACEGATE_FORM_URL": FORM_URL,
        "FACEGATE_TRUSTED_PROXIES": HOST,  # Caddy, in the https test
    }
    workdir = tmp_path_factory.mktemp("facegate")
    with running_loop(nocodb, workdir, base_title="embed", extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def site(loop: Loop, origins: Origins, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    write_pages(folder, loop.facegate.url)
    with serving(folder, origins.site) as url, serving(folder, origins.unlisted) as unlisted:
        yield Site(url=url, unlisted_url=unlisted, folder=folder)


def wait_for(read: Callable[[], Any], ready: Callable[[Any], bool], timeout: float, what: str) -> Any:
    """Poll ``read()`` until ``ready`` holds for what it returns."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if value and ready(value):
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what}: never happened; last seen {value}")


def cards(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = browser.execute_script(CARDS_SCRIPT)
    return found


def by_slug(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {card["slug"]: card for card in found}


def script_errors(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console's errors that are not a network response (an image withdrawn a moment before
    the poll noticed is a 404, not a script error); reading the log empties it."""
    return [e for e in console(browser) if e["level"] == "SEVERE" and e.get("source") != "network"]


def console(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """The browser console's entries since the last call (reading the log empties it)."""
    entries: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def host_page(browser: webdriver.Chrome, url: str) -> dict[str, Any]:
    browser.get(url)
    wait_for(lambda: browser.execute_script("return document.readyState"), lambda s: s == "complete", 10, url)
    seen: dict[str, Any] = browser.execute_script(HOST_SCRIPT)
    return seen


def assert_host_untouched(browser: webdriver.Chrome, page_url: str, bare_url: str) -> None:
    """Everything of the page outside the containers looks as it does without the script, and the
    script added one global and no stylesheet; then back to the page. (Before Selenium touches an
    element: that adds a global of its own.)"""
    shown = browser.execute_script(HOST_SCRIPT)
    bare = host_page(browser, bare_url)
    assert shown["elements"] == bare["elements"] and shown["head"] == bare["head"]
    assert (shown["stylesheets"], shown["adopted"]) == (bare["stylesheets"], bare["adopted"])
    assert sorted(set(shown["globals"]) - set(bare["globals"])) == ["FacegateCarousel"]
    browser.get(page_url)


def approved_ids(loop: Loop, slug: str) -> list[int]:
    response = httpx.get(f"{loop.facegate.url}/approved", params={"politician": slug, "limit": 100})
    return [item["id"] for item in response.json()["items"]]


def shows_all(found: list[dict[str, Any]], expected: dict[str, int]) -> bool:
    """Every politician's card shows a loaded upload, and knows ``expected[slug]`` of them."""
    shown = by_slug(found)
    return set(shown) == set(expected) and all(
        card["loaded"] and card["alt"].endswith(f"of {expected[slug]}") for slug, card in shown.items()
    )


def wait_cards(
    browser: webdriver.Chrome, ready: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = wait_for(lambda: cards(browser), ready, timeout, what)
    return found


def wait_card(
    browser: webdriver.Chrome, slug: str, ready: Callable[[dict[str, Any]], bool], what: str
) -> Any:
    return wait_for(lambda: by_slug(cards(browser))[slug], ready, 10, what)


def live_approval_and_withdrawal(loop: Loop, browser: webdriver.Chrome, facegate_url: str) -> None:
    """With the page open: a new approval appears, and leaves when a moderator deletes its row."""
    before = {slug: approved_ids(loop, slug) for slug in ("obama", "biden")}
    row = loop.submit("obama", sample("obama3.jpg"))
    loop.wait_final(row, "approved")
    newest = approved_ids(loop, "obama")[0]
    assert newest not in before["obama"]
    expected = {"obama": len(before["obama"]) + 1, "biden": len(before["biden"])}
    wait_cards(browser, lambda c: shows_all(c, expected), "new approval", CHANGE_TIMEOUT_SECONDS)

    # Keyboard: Home shows the newest upload, the arrows browse; focus stops the rotation.
    item = browser.find_element("css selector", '.carousel-item[data-politician="obama"]')
    item.send_keys(Keys.HOME)
    newest_src = f"{facegate_url}/approved/{newest}/thumbnail"
    obama = wait_card(browser, "obama", lambda c: c["src"] == newest_src, "Home")
    assert obama["alt"] == f"Approved upload for Barack Obama, 1 of {expected['obama']}"
    assert obama["live"] == "polite"
    item.send_keys(Keys.ARROW_RIGHT)
    wait_card(browser, "obama", lambda c: c["src"] != newest_src, "ArrowRight")

    with loop.api() as api:
        api.request(
            "DELETE", f"/api/v2/tables/{loop.setup.table_id}/records", json=[{"Id": row["Id"]}]
        ).raise_for_status()
    gone = {slug: len(ids) for slug, ids in before.items()}
    found = wait_cards(browser, lambda c: shows_all(c, gone), "withdrawal", CHANGE_TIMEOUT_SECONDS)
    assert all(f"/approved/{newest}/" not in card["src"] for card in found)


def test_before_any_approval_each_card_links_the_form(
    loop: Loop, site: Site, browser: webdriver.Chrome
) -> None:
    browser.get(f"{site.url}/campaign.html")
    found = wait_cards(browser, lambda c: len(c) == 2 and all(x["empty"] for x in c), "cards", 30)
    assert {c["slug"] for c in found} == {"obama", "biden"}
    assert all(c["link"] == FORM_URL and c["src"] is None for c in found)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "embed-empty.png"))
    # The next poll finds nothing new: the browser revalidates its copy, facegate answers 304.
    wait_for(lambda: revalidations(loop) or None, bool, 2 * POLL_SECONDS, "a 304 to a poll")
    assert script_errors(browser) == []


def revalidations(loop: Loop) -> float:
    return loop.facegate.metric("facegate_http_request_seconds_count", route="/approved", status="304")


def test_the_campaign_page_shows_each_politicians_uploads_live(
    loop: Loop, site: Site, browser: webdriver.Chrome
) -> None:
    for politician, photo, expected in [
        ("obama", "obama2.jpg", "approved"),
        ("biden", "biden.jpg", "approved"),
        ("obama", "biden.jpg", "deleted"),
    ]:
        loop.wait_final(loop.submit(politician, sample(photo)), expected)
    browser.get(f"{site.url}/campaign.html")
    found = wait_cards(browser, lambda c: shows_all(c, ONE_EACH), "uploads", PAGE_TIMEOUT_SECONDS)
    obama, biden = by_slug(found)["obama"], by_slug(found)["biden"]
    assert (obama["name"], obama["official"]) == ("Barack Obama", "44th President of the United States")
    assert (biden["country"], biden["shadow"]) == ("United States", False)
    assert biden["description"].startswith("Demo politician")
    for slug, card in by_slug(found).items():
        assert card["src"] == f"{loop.facegate.url}/approved/{approved_ids(loop, slug)[0]}/thumbnail"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "embed-campaign.png"))

    assert_host_untouched(browser, f"{site.url}/campaign.html", f"{site.url}/campaign-bare.html")

    live_approval_and_withdrawal(loop, browser, loop.facegate.url)
    assert script_errors(browser) == []


def test_the_default_style_keeps_to_its_container(loop: Loop, site: Site, browser: webdriver.Chrome) -> None:
    browser.get(f"{site.url}/default.html")
    found = wait_cards(browser, lambda c: shows_all(c, ONE_EACH), "uploads", PAGE_TIMEOUT_SECONDS)
    # The page's `.carousel-item {display: none}` cannot hide them: they are in shadow roots.
    assert all(card["shadow"] for card in found)
    assert [c["slug"] for c in found] == ["obama", "biden"]  # by display name, and by slug
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "embed-default.png"))
    assert_host_untouched(browser, f"{site.url}/default.html", f"{site.url}/default-bare.html")
    wait_cards(browser, lambda c: shows_all(c, ONE_EACH), "uploads", PAGE_TIMEOUT_SECONDS)

    # Hovering pauses the rotation (screen readers then hear changes); so does reduced motion.
    item = browser.execute_script(
        "return document.querySelector('.facegate-host').shadowRoot.querySelector('.carousel-item')"
    )
    assert by_slug(cards(browser))["obama"]["live"] == "off"
    ActionChains(browser).move_to_element(item).perform()
    wait_for(lambda: by_slug(cards(browser))["obama"], lambda c: c["live"] == "polite", 5, "hover pause")
    assert script_errors(browser) == []


def test_a_reduced_motion_preference_stops_the_rotation(site: Site, browser: webdriver.Chrome) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]}
    )
    try:
        browser.get(f"{site.url}/campaign.html")
        found = wait_for(lambda: cards(browser), lambda c: len(c) == 2 and c[0]["live"], 30, "cards")
        assert {c["live"] for c in found} == {"polite"}
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def explained(messages: list[str | None]) -> bool:
    return all(m and m != "Loading…" for m in messages)


def test_mistakes_are_explained_in_the_container(loop: Loop, site: Site, browser: webdriver.Chrome) -> None:
    browser.get(f"{site.url}/unknown.html")
    (message,) = wait_for(lambda: browser.execute_script(MESSAGES_SCRIPT), explained, 30, "message")
    assert "Petra Uno" in message and "biden, obama" in message

    # A page whose origin FACEGATE_CORS_ORIGINS does not list: the setting, not "Failed to fetch".
    browser.get(f"{site.unlisted_url}/campaign.html")
    (message,) = wait_for(lambda: browser.execute_script(MESSAGES_SCRIPT), explained, 30, "message")
    assert f"add {site.unlisted_url} to FACEGATE_CORS_ORIGINS" in message
    console(browser)  # the browser's own report of the refused request is expected here


def test_the_same_over_https_through_caddy(
    loop: Loop, site: Site, origins: Origins, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert installed_version() == TESTED_VERSION  # docker-compose.yml runs this version
    facegate_url = f"https://{HOST}:{origins.https_facegate}"
    page_url = f"https://{HOST}:{origins.https_site}"
    folder = site.folder / "https"
    write_pages(folder, facegate_url)
    env = {
        "FACEGATE_DOMAIN": facegate_url,
        "FACEGATE_UPSTREAM": f"{HOST}:{loop.facegate.port}",
        "NOCODB_DOMAIN": f"https://{HOST}:{free_port()}",
        "NOCODB_UPSTREAM": loop.nocodb.url.removeprefix("http://"),
    }
    campaign_site = f"{page_url} {{\n\troot * {folder}\n\tfile_server\n}}\n"
    workdir = tmp_path_factory.mktemp("caddy")
    with running_caddy(workdir, env, wait_for=facegate_url, extra_sites=campaign_site) as caddy:
        check_proxy(caddy, facegate_url)
        # Chromium trusts certificates of Caddy's internal CA (its intermediate's key), and no others.
        flags = [f"--ignore-certificate-errors-spki-list={caddy.intermediate_spki()}"]
        browser = start_chromium(tmp_path_factory.mktemp("chromium-https"), flags)
        try:
            browser.get(f"{page_url}/campaign.html")
            found = wait_cards(browser, lambda c: shows_all(c, ONE_EACH), "https", PAGE_TIMEOUT_SECONDS)
            assert all(card["src"].startswith(f"{facegate_url}/approved/") for card in found)
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / "embed-https.png"))
            live_approval_and_withdrawal(loop, browser, facegate_url)
            assert script_errors(browser) == []
        finally:
            browser.quit()


def check_proxy(caddy: LocalCaddy, facegate_url: str) -> None:
    """Caddy serves facegate over TLS that verifies against its CA, with HSTS, and HEAD works."""
    verify = ssl.create_default_context(cafile=str(caddy.root_certificate))
    with httpx.Client(base_url=facegate_url, verify=verify) as client:
        script = client.get("/embed.js")
        assert script.status_code == 200 and "FacegateCarousel" in script.text
        assert script.headers["strict-transport-security"] == "max-age=31536000"
        assert client.head("/approved").status_code == 200
