"""Who may use facegate, tried as an attacker would (issue 11, classes 7 and 8), in process.

Class 7: the /verify rate limit and the key checks count by an address the client cannot choose,
whatever it writes in X-Forwarded-For, also behind uvicorn's own proxy-header rewriting.
Class 8: without a key the operator endpoints refuse; a web page cannot use them even with one;
public answers show no absolute path; no page loads code from another host.

``test_access_server.py`` repeats the X-Forwarded-For and brute-force attacks on a real uvicorn.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.client_address import ClientAddresses
from app.api.ratelimit import CredentialGuard, RateLimiter
from app.config import Settings
from app.main import create_app
from harness.images import ROOT, sample
from tests.utils.hostile import assert_error

KEY = "operator-key-for-the-access-tests"
METRICS_TOKEN = "metrics-token-for-the-access-tests"
WEBHOOK_SECRET = "webhook-secret-for-the-access-tests"
BUDGET = 3  # /verify requests, and wrong credentials, per client and minute
ATTACKER = "203.0.113.9"
OPERATOR = "198.51.100.20"
PROXY = "10.0.0.2"
NOT_AN_IMAGE = {"image": ("x.jpg", b"not an image", "image/jpeg")}
# What a browser adds to a page's cross-site multipart form post or fetch.
BROWSER = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
OPERATOR_ENDPOINTS = [
    ("POST", "/verify"),
    ("GET", "/decisions"),
    ("GET", "/jobs"),
    ("POST", "/jobs/1/retry"),
    ("POST", "/politicians/reload"),
]
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/)+")


class Peer:
    """TestClient's socket peer, set per test; optionally behind uvicorn's ProxyHeadersMiddleware
    as uvicorn adds it by default (``--proxy-headers``, trusting 127.0.0.1 and ::1)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.host = ATTACKER
        self.uvicorn_proxy_headers = False
        self._uvicorn = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1,::1")  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["client"] = (self.host, 40000)
            if self.uvicorn_proxy_headers:
                await self._uvicorn(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)


@dataclass
class Gate:
    http: TestClient
    peer: Peer
    app: FastAPI
    settings: Settings

    def verify(self, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {"X-API-Key": KEY, **(headers or {})}
        response: httpx.Response = self.http.post("/verify", files=NOT_AN_IMAGE, headers=headers)
        return response

    def trust(self, *proxies: str) -> None:
        self.app.state.client_addresses = ClientAddresses(
            Settings(trusted_proxies=list(proxies)).trusted_proxies
        )


@pytest.fixture(scope="module")
def locked(
    tmp_path_factory: pytest.TempPathFactory, reference_dir: Path
) -> Iterator[tuple[TestClient, Peer]]:
    """An app with an operator key, a metrics token and small budgets, as an operator runs it."""
    settings = Settings(
        _env_file=None,
        reference_dir=reference_dir,
        data_dir=tmp_path_factory.mktemp("access-data"),
        workers=1,
        operator_api_key=KEY,
        metrics_token=METRICS_TOKEN,
        webhook_secret=WEBHOOK_SECRET,
        verify_rate_per_minute=BUDGET,
        auth_failures_per_minute=BUDGET,
    )
    peer = Peer(create_app(settings))
    with TestClient(peer) as http:
        yield http, peer


@pytest.fixture
def gate(locked: tuple[TestClient, Peer]) -> Iterator[Gate]:
    """The locked app with fresh budgets, no declared proxy, and its settings restored afterwards."""
    http, peer = locked
    app = peer.app
    settings: Settings = app.state.settings
    saved = settings.model_dump()
    app.state.verify_limiter = RateLimiter(BUDGET)
    app.state.credential_guard = CredentialGuard(BUDGET)
    app.state.client_addresses = ClientAddresses([])
    peer.host, peer.uvicorn_proxy_headers = ATTACKER, False
    yield Gate(http, peer, app, settings)
    for name, value in saved.items():
        setattr(settings, name, value)


def _not_limited(responses: list[httpx.Response]) -> int:
    for response in responses:
        if response.status_code == 429:
            assert_error(response, 429, "rate_limited")
            assert int(response.headers["retry-after"]) >= 1
    return sum(response.status_code != 429 for response in responses)


# ----------------------------------------------------------------- class 7: X-Forwarded-For rotation


def test_rotating_x_forwarded_for_gets_no_more_than_the_budget(gate: Gate) -> None:
    answered = _not_limited([gate.verify({"X-Forwarded-For": f"198.18.{i}.1"}) for i in range(4 * BUDGET)])
    assert answered == BUDGET


@pytest.mark.parametrize(
    "forged", ["198.18.{i}.1", "x{i}", "198.18.{i}.1:80, 127.0.0.1", "[2001:db8::{i}]:1"]
)
def test_uvicorn_proxy_headers_do_not_let_a_local_client_choose_its_address(gate: Gate, forged: str) -> None:
    # The attacker is on facegate's host: uvicorn (proxy headers on by default) trusts the loopback
    # peer and replaces it with whatever the header says.
    gate.peer.host, gate.peer.uvicorn_proxy_headers = "127.0.0.1", True
    responses = [gate.verify({"X-Forwarded-For": forged.format(i=i)}) for i in range(4 * BUDGET)]
    assert _not_limited(responses) == BUDGET


def test_uvicorn_proxy_headers_cannot_impersonate_a_declared_proxy(gate: Gate) -> None:
    # uvicorn takes the rightmost hop it does not trust, the declared proxy the attacker wrote; the
    # hop left of it would then be believed, were the peer not found in the header itself.
    gate.trust(PROXY)
    gate.peer.host, gate.peer.uvicorn_proxy_headers = "127.0.0.1", True
    responses = [gate.verify({"X-Forwarded-For": f"198.18.{i}.1, {PROXY}"}) for i in range(4 * BUDGET)]
    assert _not_limited(responses) == BUDGET


def test_behind_a_declared_proxy_each_client_has_its_own_budget(gate: Gate) -> None:
    gate.trust(PROXY)
    gate.peer.host = PROXY
    # The proxy appends the address it saw to whatever the client wrote.
    rotated = [gate.verify({"X-Forwarded-For": f"198.18.{i}.1, {ATTACKER}"}) for i in range(4 * BUDGET)]
    assert _not_limited(rotated) == BUDGET
    assert gate.verify({"X-Forwarded-For": OPERATOR}).status_code != 429  # another client of the proxy


def test_an_undeclared_proxy_is_one_client(gate: Gate) -> None:
    gate.peer.host = PROXY
    responses = [gate.verify({"X-Forwarded-For": f"198.18.{i}.1"}) for i in range(2 * BUDGET)]
    assert _not_limited(responses) == BUDGET


def test_rotating_addresses_within_an_ipv6_64_gets_no_more_than_the_budget(gate: Gate) -> None:
    responses = []
    for i in range(4 * BUDGET):
        gate.peer.host = f"2001:db8:1:2::{i + 1:x}"
        responses.append(gate.verify())
    assert _not_limited(responses) == BUDGET
    gate.peer.host = "2001:db8:1:3::1"  # another /64
    assert gate.verify().status_code != 429


# ----------------------------------------------------------------- class 7: wrong-key brute force


def test_wrong_keys_are_throttled_per_client(gate: Gate) -> None:
    guesses = [
        gate.http.get("/jobs", headers={"X-API-Key": f"guess-{i}", "X-Forwarded-For": f"198.18.{i}.1"})
        for i in range(BUDGET)
    ]
    for response in guesses:
        assert_error(response, 401, "unauthorized")
    # Over the budget even the right key is not compared: a brute force cannot tell it found it.
    for key in ("guess-x", KEY):
        throttled = gate.http.get("/jobs", headers={"X-API-Key": key})
        assert_error(throttled, 429, "rate_limited")
        assert int(throttled.headers["retry-after"]) == 60 // BUDGET
    # The operator elsewhere is not affected by the attacker's failures.
    gate.peer.host = OPERATOR
    assert gate.http.get("/jobs", headers={"X-API-Key": KEY}).status_code == 200


def test_the_right_key_gives_a_full_budget_again(gate: Gate) -> None:
    gate.peer.host = OPERATOR
    for _ in range(3):
        for i in range(BUDGET - 1):  # typos
            assert_error(gate.http.get("/jobs", headers={"X-API-Key": f"typo-{i}"}), 401)
        assert gate.http.get("/jobs", headers={"X-API-Key": KEY}).status_code == 200


def test_metrics_tokens_and_webhook_secrets_share_the_budget(gate: Gate) -> None:
    assert_error(gate.http.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
    assert_error(gate.http.post("/webhooks/nocodb", json={}, headers={"X-Facegate-Secret": "wrong"}), 401)
    assert_error(gate.http.get("/decisions", headers={"X-API-Key": "wrong"}), 401)
    assert_error(gate.http.post("/webhooks/nocodb", json={}, headers={"X-Facegate-Secret": "wrong"}), 429)
    assert_error(gate.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}), 429)


def test_a_missing_key_is_not_a_guess(gate: Gate) -> None:
    for _ in range(2 * BUDGET):
        assert_error(gate.http.get("/jobs"), 401, "unauthorized")
    assert gate.http.get("/jobs", headers={"X-API-Key": KEY}).status_code == 200


# ----------------------------------------------------------------- class 8: no key, closed


@pytest.mark.parametrize(("method", "path"), OPERATOR_ENDPOINTS)
def test_without_a_key_operator_endpoints_refuse(gate: Gate, method: str, path: str) -> None:
    gate.settings.operator_api_key = None
    kwargs: dict[str, Any] = {"files": NOT_AN_IMAGE} if path == "/verify" else {}
    response = gate.http.request(method, path, headers={"X-API-Key": "anything"}, **kwargs)
    error = assert_error(response, 403, "operator_endpoints_closed")
    assert "FACEGATE_OPERATOR_API_KEY" in error["message"]


def test_without_a_key_or_token_metrics_refuse(gate: Gate) -> None:
    gate.settings.operator_api_key = gate.settings.metrics_token = None
    error = assert_error(gate.http.get("/metrics"), 403, "operator_endpoints_closed")
    assert "FACEGATE_METRICS_TOKEN" in error["message"] and "FACEGATE_METRICS_PUBLIC" in error["message"]


def test_metrics_answer_their_token_the_key_or_anyone_when_public(gate: Gate) -> None:
    assert gate.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    assert gate.http.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
    assert_error(gate.http.get("/metrics"), 401, "unauthorized")
    gate.settings.metrics_token, gate.settings.operator_api_key = None, None
    gate.settings.metrics_public = True
    assert gate.http.get("/metrics").status_code == 200


def test_opened_for_local_use_they_answer_without_a_key(gate: Gate) -> None:
    gate.settings.operator_api_key = None
    gate.settings.operator_endpoints_open = True
    assert gate.http.get("/jobs").status_code == 200
    assert gate.verify().status_code == 415  # reached the check of the picture


# ----------------------------------------------------------------- class 8: web pages


@pytest.mark.parametrize(
    "browser",
    [
        BROWSER,
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame or a file: page
        {"Sec-Fetch-Site": "same-site"},  # a page on a sibling subdomain
        {"Sec-Fetch-Site": "same-origin"},  # a page on facegate's own origin (or DNS rebinding)
        {"Origin": "https://evil.example"},  # a browser without Sec-Fetch-*
    ],
    ids=["cross-site", "null-origin", "same-site", "same-origin", "origin-only"],
)
@pytest.mark.parametrize("access", ["key", "open"])
def test_a_web_page_cannot_use_verify(gate: Gate, browser: dict[str, str], access: str) -> None:
    if access == "open":
        gate.settings.operator_api_key = None
        gate.settings.operator_endpoints_open = True
    # A cross-site multipart form post is a "simple" request: the browser sends it without asking.
    response = gate.http.post(
        "/verify", files={"image": ("a.jpg", sample("obama2.jpg"), "image/jpeg")}, headers=browser
    )
    assert_error(response, 403, "browser_request")
    assert response.headers.get("access-control-allow-origin") is None
    assert_error(gate.verify(browser), 403, "browser_request")  # with the key too
    assert_error(gate.http.get("/decisions", headers={"X-API-Key": KEY, **browser}), 403, "browser_request")


def test_scripts_and_the_address_bar_still_work(gate: Gate) -> None:
    assert gate.verify().status_code == 415  # curl: no Origin, no Sec-Fetch-Site
    assert gate.http.get("/jobs", headers={"X-API-Key": KEY, "Sec-Fetch-Site": "none"}).status_code == 200


def test_a_cors_preflight_for_verify_is_not_granted(gate: Gate) -> None:
    preflight = gate.http.options(
        "/verify",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert preflight.headers.get("access-control-allow-origin") is None


# ----------------------------------------------------------------- class 8: no absolute paths


def _no_absolute_path(response: httpx.Response, *folders: Path) -> None:
    for folder in folders:
        assert str(folder.resolve()) not in response.text and str(folder) not in response.text
    assert not ABSOLUTE_PATH.search(response.text), response.text


def test_a_broken_reference_folder_shows_no_absolute_path(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("broken")
    reference_dir = workdir / "reference_faces"
    settings = Settings(
        _env_file=None,
        reference_dir=reference_dir,  # missing at start-up
        data_dir=workdir / "data",
        workers=1,
        operator_endpoints_open=True,
    )
    with TestClient(create_app(settings)) as http:
        for path in ("/readyz", "/politicians"):
            response = http.get(path)
            error = assert_error(response, 503, "not_ready")
            assert "reference_faces: the reference folder does not exist" in str(error["detail"])
            _no_absolute_path(response, workdir)
        # A photo without a face: the error names it from the folder on.
        (reference_dir / "obama").mkdir(parents=True)
        profile = (ROOT / "reference_faces" / "obama" / "profile.toml").read_text()
        (reference_dir / "obama" / "profile.toml").write_text(profile)
        (reference_dir / "obama" / "cat.png").write_bytes(sample("cat.png"))
        reload = http.post("/politicians/reload")
        assert "reference_faces/obama/cat.png" in assert_error(reload, 500, "reference_error")["message"]
        _no_absolute_path(reload, workdir)
        for path in ("/readyz", "/politicians"):
            response = http.get(path)
            assert "reference_faces/obama/cat.png" in str(assert_error(response, 503)["detail"])
            _no_absolute_path(response, workdir)


def test_public_answers_show_no_absolute_path(client: TestClient) -> None:
    for path in ("/readyz", "/politicians", "/site", "/approved", "/healthz"):
        _no_absolute_path(client.get(path), ROOT)


# ----------------------------------------------------------------- class 8: no code from a CDN


def test_no_page_loads_code_from_another_host(client: TestClient) -> None:
    # FastAPI's /docs and /redoc load their scripts from a CDN: facegate serves neither.
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert_error(client.get(path), 404)
    assert client.get("/openapi.json").status_code == 200
    for path in ("/", "/static/carousel.js", "/static/carousel.css"):
        page = client.get(path)
        assert page.status_code == 200
        assert "http://" not in page.text and "https://" not in page.text, path
        assert not re.search(r"(?i)(src|href|import)\s*[=(]\s*[\"']?//", page.text), path
    csp = client.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "http" not in csp
