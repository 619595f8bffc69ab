"""The reference page (``GET /review/{token}``): the upload beside the politician's references, the
numbers, and refusals (expired, forged, gone), every answer uncached and unindexed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.ratelimit import CredentialGuard
from app.assembly import Runtime
from app.config import Settings
from app.main import create_app
from app.outcomes import Reason
from harness.images import demo_rule, sample
from tests.utils.fake_nocodb import FakeNocoDB
from tests.utils.review import QuietNocoDB, decided, link, review_settings

PUBLIC = "https://facegate.example"
REVIEW_HEADERS = {
    "cache-control": "no-store",
    "x-robots-tag": "noindex, nofollow",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}
IMAGE = re.compile(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+" alt="([^"]+)">')


@dataclass
class App:
    http: TestClient
    fake: FakeNocoDB
    runtime: Runtime


@pytest.fixture(scope="module")
def app(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    fake = FakeNocoDB()
    settings = review_settings(reference_dir, tmp_path_factory.mktemp("data"), PUBLIC)
    transport = httpx.MockTransport(QuietNocoDB(fake).handler)
    with TestClient(create_app(settings, nocodb_transport=transport)) as http:
        runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
        yield App(http, fake, runtime)


@pytest.fixture(autouse=True)
def _full_budget(app: App) -> None:
    """Each test starts with the test client's full budget of wrong tokens."""
    guard: CredentialGuard = app.http.app.state.credential_guard  # type: ignore[attr-defined]
    guard.succeeded("testclient")


def path_of(url: str) -> str:
    assert url.startswith(f"{PUBLIC}/review/")
    return url.removeprefix(PUBLIC)


def assert_review_headers(response: httpx.Response) -> None:
    for name, value in REVIEW_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert response.headers["content-type"].startswith("text/html")


def test_a_valid_link_shows_the_upload_beside_the_references_with_the_numbers(app: App) -> None:
    # The demo profile's calibration (reference_faces/obama/profile.toml); a distance in its band.
    tolerance, band = demo_rule("obama")
    upload = ("obama2.jpg", sample("obama2.jpg"))
    key = decided(app.fake, app.runtime.decisions, 501, upload, distance=tolerance)
    response = app.http.get(path_of(link(PUBLIC, 501, key)))
    assert response.status_code == 200
    assert_review_headers(response)
    page = response.text
    assert IMAGE.findall(page) == ["Upload", "Reference obama.jpg", "Reference obama3.jpg"]
    assert "Barack Obama" in page and "<code>obama</code>" in page
    assert "review</span> (near_tolerance)" in page
    assert f'<span class="num">{tolerance:.3f}</span> <span class="review">review band</span>' in page
    for number in (f"{tolerance:.3f}", f"±{band:.3f}", f"{tolerance - band:.3f}", f"{tolerance + band:.3f}"):
        assert f'<span class="num">{number}</span>' in page
    assert "<script" not in page


def test_explicit_findings_and_the_note_are_shown_escaped(app: App) -> None:
    detail = "Found: FEMALE_BREAST_EXPOSED (0.42), <b>x</b> (0.31)"
    key = decided(
        app.fake,
        app.runtime.decisions,
        502,
        ("obama3.jpg", sample("obama3.jpg")),
        distance=0.41,
        reason=Reason.EXPLICIT_CONTENT,
        detail=detail,
    )
    page = app.http.get(path_of(link(PUBLIC, 502, key))).text
    assert "FEMALE_BREAST_EXPOSED <span class='num'>0.42</span>" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert '<span class="approved">approved zone</span>' in page


def test_an_expired_link_is_refused(app: App) -> None:
    key = decided(app.fake, app.runtime.decisions, 503, ("obama2.jpg", sample("obama2.jpg")))
    response = app.http.get(path_of(link(PUBLIC, 503, key, now=0.0)))
    assert response.status_code == 403
    assert_review_headers(response)
    assert "This link expired" in response.text and "fresh link" in response.text
    assert "<img" not in response.text


def test_a_forged_link_is_refused_without_saying_which_part_failed(app: App) -> None:
    key = decided(app.fake, app.runtime.decisions, 504, ("obama2.jpg", sample("obama2.jpg")))
    path = path_of(link(PUBLIC, 504, key))
    for forged in (path[:-2] + ("AA" if not path.endswith("AA") else "BB"), "/review/x.y", "/review/é"):
        response = app.http.get(forged)
        assert response.status_code == 403, forged
        assert_review_headers(response)
        assert "This link is not valid" in response.text and "forged" not in response.text
        assert "<img" not in response.text


def test_a_row_gone_or_holding_another_upload_is_not_found(app: App) -> None:
    key = decided(app.fake, app.runtime.decisions, 505, ("obama2.jpg", sample("obama2.jpg")))
    url = link(PUBLIC, 505, key)
    del app.fake.rows[505]
    gone = app.http.get(path_of(url))
    assert gone.status_code == 404
    assert_review_headers(gone)
    assert "This upload is no longer in NocoDB" in gone.text and "<img" not in gone.text
    # NocoDB reuses the Id for another upload: the old link does not open it.
    app.fake.add(505, "biden", ("biden.jpg", sample("biden.jpg")))
    app.fake.rows[505]["CreatedAt"] = "2026-02-01 00:00:00+00:00"
    reused = app.http.get(path_of(url))
    assert reused.status_code == 404 and "<img" not in reused.text


def test_wrong_tokens_are_rate_limited_like_wrong_keys(app: App) -> None:
    statuses = [app.http.get(f"/review/nothing{i}.x").status_code for i in range(6)]
    assert statuses == [403] * 5 + [429]  # FACEGATE_AUTH_FAILURES_PER_MINUTE=5
    assert_review_headers(app.http.get("/review/nothing.x"))
    limited = app.http.get("/review/nothing.x")
    assert limited.status_code == 429 and limited.headers["retry-after"].isdigit()
    assert "Too many invalid links" in limited.text


def test_without_links_the_page_is_not_found(reference_dir: Path, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, reference_dir=reference_dir, data_dir=tmp_path, workers=1)
    with TestClient(create_app(settings)) as http:
        response = http.get("/review/anything.at-all")
    assert response.status_code == 404
    assert_review_headers(response)
    assert "FACEGATE_PUBLIC_URL" in response.text


def test_the_route_is_not_in_the_api_description(app: App) -> None:
    assert not any(p.startswith("/review") for p in app.http.get("/openapi.json").json()["paths"])
