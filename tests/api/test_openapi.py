from __future__ import annotations

import yaml
from fastapi.testclient import TestClient

from scripts.export_openapi import TARGET, render


def test_openapi_yaml_is_what_the_app_serves(client: TestClient) -> None:
    served = client.get("/openapi.json").json()
    committed = yaml.safe_load(TARGET.read_text())
    assert committed == served, "openapi.yaml is stale: run `uv run python -m scripts.export_openapi`"
    assert TARGET.read_text() == render(served)


def test_every_error_response_uses_the_one_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (path, method, status)
