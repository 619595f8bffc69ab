"""Issue 11, classes 7 and 8, against a real uvicorn: started as the Dockerfile, ``make run`` and the
harness start it, and as uvicorn starts by default (proxy headers on, trusting loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.facegate import OPERATOR_KEY, SERVER_FLAGS, FacegateServer, facegate_env, running_facegate
from harness.net import free_port
from tests.utils.hostile import assert_error

BUDGET = 3
NOT_AN_IMAGE = {"image": ("x.jpg", b"not an image", "image/jpeg")}
UVICORN_DEFAULTS = ("--no-access-log",)  # proxy headers on, trusting 127.0.0.1 and ::1


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("access-server")


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    return facegate_env(workdir, workers=1) | {
        "FACEGATE_VERIFY_RATE_PER_MINUTE": str(BUDGET),
        "FACEGATE_AUTH_FAILURES_PER_MINUTE": str(BUDGET),
    }


@pytest.fixture(scope="module")
def shipped(workdir: Path, env: dict[str, str]) -> Iterator[FacegateServer]:
    with running_facegate(workdir, env, flags=SERVER_FLAGS) as server:
        yield server


def _rotate(url: str, count: int) -> int:
    """``count`` /verify calls from one client, each with another X-Forwarded-For; how many were served."""
    served = 0
    with httpx.Client(base_url=url, headers={"X-API-Key": OPERATOR_KEY}, timeout=30) as http:
        for i in range(count):
            response = http.post("/verify", files=NOT_AN_IMAGE, headers={"X-Forwarded-For": f"198.18.{i}.1"})
            if response.status_code == 429:
                assert_error(response, 429, "rate_limited")
                assert int(response.headers["retry-after"]) >= 1
            else:
                served += 1
    return served


def test_rotating_x_forwarded_for_gets_no_more_than_the_budget(shipped: FacegateServer) -> None:
    assert _rotate(shipped.url, 4 * BUDGET) == BUDGET


def test_wrong_keys_are_throttled_and_another_client_keeps_its_key(shipped: FacegateServer) -> None:
    with httpx.Client(base_url=shipped.url, timeout=30) as attacker:
        codes = [
            attacker.get(
                "/jobs", headers={"X-API-Key": f"guess-{i}", "X-Forwarded-For": f"198.18.{i}.1"}
            ).status_code
            for i in range(4 * BUDGET)
        ]
        assert codes == [401] * BUDGET + [429] * 3 * BUDGET
        assert_error(attacker.get("/jobs", headers={"X-API-Key": OPERATOR_KEY}), 429, "rate_limited")
    # The operator, at another address of the host, is not affected.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=shipped.url, transport=transport, timeout=30) as operator:
        assert operator.get("/jobs", headers={"X-API-Key": OPERATOR_KEY}).status_code == 200


def test_a_web_page_cannot_use_verify(shipped: FacegateServer) -> None:
    browser = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "X-API-Key": OPERATOR_KEY}
    response = httpx.post(f"{shipped.url}/verify", files=NOT_AN_IMAGE, headers=browser, timeout=30)
    assert_error(response, 403, "browser_request")


def test_uvicorn_defaults_do_not_let_a_local_client_choose_its_address(
    workdir: Path, env: dict[str, str]
) -> None:
    with running_facegate(workdir, _own_data(env, workdir / "defaults"), flags=UVICORN_DEFAULTS) as server:
        assert _rotate(server.url, 4 * BUDGET) == BUDGET


def test_without_a_key_operator_endpoints_refuse(workdir: Path, env: dict[str, str]) -> None:
    keyless = {k: v for k, v in env.items() if k != "FACEGATE_OPERATOR_API_KEY"}
    with running_facegate(workdir, _own_data(keyless, workdir / "keyless")) as server:
        for method, path in [("GET", "/jobs"), ("GET", "/decisions"), ("GET", "/metrics")]:
            response = httpx.request(method, f"{server.url}{path}", timeout=30)
            assert_error(response, 403, "operator_endpoints_closed")
        response = httpx.post(f"{server.url}/verify", files=NOT_AN_IMAGE, timeout=30)
        assert "FACEGATE_OPERATOR_API_KEY" in assert_error(response, 403)["message"]
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200


def _own_data(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """A second facegate beside the first needs a data folder of its own."""
    return env | {"FACEGATE_DATA_DIR": str(data_dir)}


@pytest.mark.parametrize("url", ["javascript:alert(document.domain)", "data:text/html,<script>1</script>"])
def test_a_script_form_url_is_refused_at_start_up(workdir: Path, env: dict[str, str], url: str) -> None:
    server = FacegateServer(port=free_port(), env=env | {"FACEGATE_FORM_URL": url}, workdir=workdir)
    with pytest.raises(RuntimeError, match="exited at start-up"):
        server.start()
    assert "FACEGATE_FORM_URL" in server.log_tail() and url not in server.log_tail()
