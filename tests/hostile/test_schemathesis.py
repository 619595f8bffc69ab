"""Schemathesis against the committed openapi.yaml, sent to the session's running app.

Every response must not be a 5xx and must conform to the schema: its status code is declared, its
content type and headers are the declared ones, and its body validates against the declared schema.

The calls go through schemathesis' in-process ASGI client without entering it: entering would start
the app's lifespan a second time (a second face pool, and the data folder is locked by the first).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.images import ROOT
from tests.utils.hostile import assert_error

SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
WEBHOOK_SECRET = "test-webhook-secret"
SQLITE_MAX_INT = 2**63 - 1
BIG = str(2**63)


@pytest.fixture(scope="module")
def asgi(client: TestClient) -> ASGIClient:
    return ASGIClient(cast(Any, client.app))


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_response_is_declared_and_never_a_server_error(
    case: schemathesis.Case[Any], asgi: ASGIClient, unlimited: TestClient
) -> None:
    if case.operation.path == "/webhooks/nocodb":
        # The real secret, so that the generated bodies are parsed (tests/api covers a missing secret).
        case.headers["x-facegate-secret"] = WEBHOOK_SECRET
    case.call_and_validate(session=asgi, base_url="http://testserver", checks=CHECKS)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"/decisions?row_id={BIG}"),
        ("GET", f"/decisions?cursor={BIG}"),
        ("GET", f"/jobs?cursor={BIG}"),
        ("GET", f"/approved?cursor={BIG}"),
        ("GET", f"/approved/{BIG}/image"),
        ("GET", f"/approved/{BIG}/thumbnail"),
        ("POST", f"/jobs/{BIG}/retry"),
    ],
)
def test_integers_beyond_sqlite_are_a_4xx(client: TestClient, method: str, url: str) -> None:
    # Found by schemathesis: these were 500s (OverflowError in SQLite) before the parameters were bounded.
    assert_error(client.request(method, url), {404, 422})


@pytest.mark.parametrize(
    "url",
    [
        f"/decisions?row_id={SQLITE_MAX_INT}",
        f"/decisions?cursor={SQLITE_MAX_INT}",
        f"/jobs?cursor={SQLITE_MAX_INT}",
    ],
)
def test_the_largest_sqlite_integer_is_fine(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 200
