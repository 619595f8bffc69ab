"""No Docker engine runs here: check what can be checked of the Dockerfile without building it."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from harness.facegate import SERVER_FLAGS
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


def test_compose_erases_in_nocodbs_own_volume_with_secure_attachments() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    nocodb, facegate = compose["nocodb"], compose["facegate"]
    tested = json.loads((ROOT / "harness/nocodb_node/package.json").read_text())["dependencies"]["nocodb"]
    assert nocodb["image"] == f"nocodb/nocodb:{tested}"
    assert (
        nocodb["environment"]["NC_SECURE_ATTACHMENTS"] == nocodb["environment"]["NC_DISABLE_AUDIT"] == "true"
    )
    # facegate sees NocoDB's data volume, and its uploads folder is the one the setting names.
    (nocodb_mount,) = [v for v in nocodb["volumes"] if v.endswith(":/usr/app/data")]
    volume = nocodb_mount.split(":")[0]
    (shared,) = [v.split(":")[1] for v in facegate["volumes"] if v.split(":")[0] == volume]
    assert facegate["environment"]["FACEGATE_NOCODB_UPLOADS_DIR"] == f"{shared}/nc/uploads"
    # Both write as facegate's uid, so facegate may remove what NocoDB wrote.
    uid = re.search(r"useradd .*--uid (\d+)", DOCKERFILE)
    assert uid is not None and nocodb["user"].split(":")[0] == uid.group(1)
    assert compose["nocodb-volume"]["command"][-2:] == [f"{uid.group(1)}:{uid.group(1)}", "/usr/app/data"]


def test_uvicorn_runs_as_the_harness_and_make_run_run_it() -> None:
    # No access log (visitors' addresses), and no proxy headers: uvicorn would take the client
    # address from an X-Forwarded-For a client writes (facegate reads it only from declared proxies).
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    assert cmd is not None
    flags = json.loads(cmd.group(1))
    assert set(SERVER_FLAGS) == {"--no-access-log", "--no-proxy-headers"} <= set(flags)
    assert not any(flag.startswith("--forwarded-allow-ips") or flag == "--proxy-headers" for flag in flags)
    assert "*SERVER_FLAGS" in (ROOT / "scripts/up.py").read_text()
