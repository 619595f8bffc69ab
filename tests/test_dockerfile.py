"""No Docker engine runs here: check what can be checked of the Dockerfile without building it."""

from __future__ import annotations

import re
import tomllib

from harness.images import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def test_installs_the_same_locked_dependencies_as_the_readme_path() -> None:
    assert "$(UV) sync --frozen\n" in MAKEFILE
    assert re.search(r"uv sync --frozen --no-dev\b", DOCKERFILE)
    assert "COPY pyproject.toml uv.lock" in DOCKERFILE


def test_python_version_matches_the_project() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    base = re.search(r"^FROM python:(\d+\.\d+)", DOCKERFILE, re.M)
    assert base is not None and requires == f">={base.group(1)}"


def test_serves_the_contracted_app_as_a_non_root_user() -> None:
    assert '"app.main:app"' in DOCKERFILE
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M)
    for path in ("app", "reference_faces", "scripts/fetch_samples.py"):
        assert f"COPY {path} " in DOCKERFILE
        assert (ROOT / path).exists()


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", "data", ".venv", ".git"} <= ignored
