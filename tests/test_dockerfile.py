"""No Docker engine runs here: check what can be checked of the Dockerfile and the compose file
without one (the compose file against the compose specification's own JSON schema; NocoDB's
healthcheck against a real NocoDB, facegate's against a real facegate)."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # schemathesis's dependency, locked in uv.lock
import yaml

from app.commands.serve import APP, SERVER_FLAGS
from harness.caddy import TESTED_VERSION as CADDY_TESTED
from harness.facegate import facegate_env, running_facegate
from harness.images import ROOT
from harness.net import free_port
from harness.nocodb import LocalNocoDB

DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
# github.com/compose-spec/compose-spec schema/compose-spec.json at 170098ba (Apache-2.0), as docker
# compose validates a file.
COMPOSE_SCHEMA = json.loads((ROOT / "tests/fixtures/compose-spec.json").read_text())


def test_installs_the_same_locked_dependencies_as_the_readme_path() -> None:
    assert "$(UV) sync --frozen\n" in MAKEFILE
    assert re.search(r"uv sync --frozen --no-dev --extra plot\b", DOCKERFILE)
    # `politicians calibrate --plot` draws with the extra that the image installs.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert list(extras) == ["plot"]
    assert "COPY pyproject.toml uv.lock" in DOCKERFILE


def test_python_version_matches_the_project() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    base = re.search(r"^FROM python:(\d+\.\d+)", DOCKERFILE, re.M)
    assert base is not None and requires == f">={base.group(1)}"


def test_serves_the_contracted_app_as_a_non_root_user() -> None:
    assert APP == "app.main:app"  # what `facegate serve`, the image's CMD, runs
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


def test_the_image_runs_facegate_serve_whose_flags_the_harness_and_make_run_share() -> None:
    # No access log (visitors' addresses), and no proxy headers: uvicorn would take the client
    # address from an X-Forwarded-For a client writes (facegate reads it only from declared proxies).
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    assert cmd is not None
    assert json.loads(cmd.group(1))[:2] == ["facegate", "serve"]
    assert set(SERVER_FLAGS) == {"--no-access-log", "--no-proxy-headers"}
    assert "server_command(" in (ROOT / "scripts/up.py").read_text()
    assert "uvicorn" not in (ROOT / "scripts/up.py").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["facegate"] == "app.cli:main"


def test_compose_file_is_valid_for_the_compose_specification() -> None:
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(COMPOSE)
    broken = {**COMPOSE, "services": {**COMPOSE["services"], "facegate": {"env_file": [{"pth": ".env"}]}}}
    assert not jsonschema.Draft7Validator(COMPOSE_SCHEMA).is_valid(broken)  # the schema does check


def test_compose_starts_before_bootstrap_wrote_the_settings_file() -> None:
    (env_file,) = COMPOSE["services"]["facegate"]["env_file"]
    assert env_file == {"path": ".env", "required": False}


def test_compose_waits_for_a_healthy_nocodb() -> None:
    nocodb, facegate = COMPOSE["services"]["nocodb"], COMPOSE["services"]["facegate"]
    assert facegate["depends_on"]["nocodb"] == {"condition": "service_healthy"}
    test = nocodb["healthcheck"]["test"]
    assert test[0] == "CMD" and "http://127.0.0.1:8080/api/v1/health" in test[-1]


def test_compose_keeps_the_politicians_in_a_volume_facegate_may_write() -> None:
    # A bind mount of ./reference_faces once hid what the image had: a named volume is filled from it.
    volumes = COMPOSE["services"]["facegate"]["volumes"]
    (source,) = [v.split(":")[0] for v in volumes if v.split(":")[1] == "/srv/facegate/reference_faces"]
    assert source in COMPOSE["volumes"]  # a named volume: Docker fills it from the image
    # ... writable by facegate, for `facegate politicians add`.
    assert re.search(r"chown -R facegate /srv/facegate/reference_faces", DOCKERFILE)
    workdir = re.search(r"^WORKDIR (\S+)", DOCKERFILE, re.M)
    assert workdir is not None and workdir.group(1) == "/srv/facegate"


def test_the_image_serves_no_demo_politician_unless_asked() -> None:
    # The demo politicians (make run, the tests) must never be offered on a campaign's form: the
    # image fetches their photos, then moves them out of the folder it serves.
    run = re.search(r"^RUN uv sync --frozen --no-dev --extra plot \\\n(?:.*\\\n)*.*$", DOCKERFILE, re.M)
    assert run is not None
    steps = [" ".join(step.replace("\\\n", " ").split()) for step in run.group().split("&&")]
    fetch = steps.index("python3 scripts/fetch_samples.py --references-only")
    assert steps[fetch + 1 : fetch + 4] == [
        "mkdir demo",
        "mv reference_faces demo/reference_faces",
        "mkdir reference_faces",
    ]
    served = re.search(r"FACEGATE_REFERENCE_DIR=(\S+)", DOCKERFILE)
    assert served is not None and served.group(1) == "/srv/facegate/reference_faces"
    assert "FACEGATE_REFERENCE_DIR" not in COMPOSE["services"]["facegate"]["environment"]
    # The documented way to serve them: one commented line of the compose file, naming that folder.
    (line,) = [line.strip() for line in COMPOSE_TEXT.splitlines() if "demo/reference_faces" in line]
    assert line == "# FACEGATE_REFERENCE_DIR: /srv/facegate/demo/reference_faces"
    assert (ROOT / "reference_faces" / "obama" / "profile.toml").is_file()  # what COPY takes there


def _compose_runs() -> list[list[str]]:
    """Every `docker compose run` command of the compose file's header and of the README, as words."""
    readme = (ROOT / "README.md").read_text()
    header = "\n".join(line[1:] for line in COMPOSE_TEXT.splitlines() if line.startswith("#"))
    commands = []
    for text in (header, readme):
        joined = re.sub(r"\\\n\s*#?", " ", text)  # continuation lines, in comments too
        for line in joined.splitlines():
            command = line.strip().lstrip("#").strip()
            if re.match(r"^(?:[A-Z_]+=\S*\s+)*docker compose run\b", command):  # a command, not prose
                commands.append(shlex.split(command, comments=True))
    return commands


def test_compose_run_commands_pass_their_variables_and_may_write_the_settings_file() -> None:
    commands = _compose_runs()
    assert len(commands) >= 2  # the header's and the README's bootstrap at least
    for words in commands:
        start = words.index("docker")
        assigned = [w.split("=")[0] for w in words[:start] if re.match(r"^[A-Z_]+=", w)]
        passed = [words[i + 1] for i, w in enumerate(words) if w == "-e"]
        # `VAR=… docker compose run` sets VAR for compose, not for the container: -e VAR passes it.
        assert set(assigned) <= set(passed), words
        if "bootstrap" in words:
            # The host's .env, mounted over the image's path, written as its owner (a container uid
            # may not chmod the host user's file).
            assert "-v" in words and words[words.index("-v") + 1].endswith(":/srv/facegate/.env"), words
            assert words[words.index("--user") + 1] == "$(id -u):$(id -g)", words


def test_nocodbs_healthcheck_answers_as_nocodb_does(nocodb: LocalNocoDB) -> None:
    # The healthcheck's own command (node is what NocoDB runs on), pointed at the test's NocoDB.
    test = COMPOSE["services"]["nocodb"]["healthcheck"]["test"]
    port = nocodb.url.rsplit(":", 1)[1]
    command = [word.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for word in test[1:]]
    assert subprocess.run(command, timeout=30, check=False).returncode == 0
    closed = [word.replace("127.0.0.1:8080", f"127.0.0.1:{free_port()}") for word in test[1:]]
    assert subprocess.run(closed, timeout=30, check=False).returncode == 1


def _healthcheck_code() -> str:
    """The Python line the image's HEALTHCHECK runs; the compose file's healthcheck runs the same."""
    found = re.search(r'^HEALTHCHECK .*\\\n\s+CMD python -c "(.+)"$', DOCKERFILE, re.M)
    assert found is not None
    test = COMPOSE["services"]["facegate"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"] and test[3] == found.group(1)
    return found.group(1)


def test_facegates_healthcheck_passes_only_while_it_can_moderate(tmp_path: Path) -> None:
    # The healthcheck's own line against a real facegate: ready, then unable to moderate (its
    # reference folder emptied and reloaded: /readyz 503 references_empty), then gone.
    code = _healthcheck_code()
    assert "/readyz" in code  # not /healthz: a facegate that answers but cannot moderate is unhealthy
    env = facegate_env(tmp_path, workers=1) | {"FACEGATE_OPERATOR_ENDPOINTS_OPEN": "true"}
    env.pop("FACEGATE_OPERATOR_API_KEY")

    def healthcheck(port: int) -> int:
        command = [sys.executable, "-c", code.replace("127.0.0.1:8000", f"127.0.0.1:{port}")]
        return subprocess.run(command, timeout=30, check=False, capture_output=True).returncode

    with running_facegate(tmp_path, env) as server:
        assert healthcheck(server.port) == 0
        for politician in (tmp_path / "reference_faces").iterdir():
            shutil.rmtree(politician)
        assert httpx.post(f"{server.url}/politicians/reload", timeout=30).status_code == 200
        assert httpx.get(f"{server.url}/readyz", timeout=10).json()["error"]["code"] == "references_empty"
        assert healthcheck(server.port) == 1
    assert healthcheck(server.port) == 1


def test_the_postgresql_override_shares_one_server_with_a_database_each() -> None:
    override = yaml.safe_load((ROOT / "docker-compose.postgres.yml").read_text())
    jsonschema.Draft7Validator(COMPOSE_SCHEMA).validate(override)
    services = override["services"]
    assert set(services) == {"postgres", "nocodb", "facegate", "facegate-2", "caddy"}
    assert services["caddy"]["environment"]["FACEGATE_UPSTREAM"] == "facegate:8000 facegate-2:8000"
    nc_db = services["nocodb"]["environment"]["NC_DB"]
    assert nc_db.startswith("pg://postgres:5432?") and nc_db.endswith("&d=nocodb")
    urls = {services[name]["environment"]["FACEGATE_DATABASE_URL"] for name in ("facegate", "facegate-2")}
    assert urls == {"postgresql://postgres:${POSTGRES_PASSWORD}@postgres:5432/facegate"}  # one queue
    init = (ROOT / "deploy/postgres-init.sql").read_text()
    assert "CREATE DATABASE nocodb;" in init and "CREATE DATABASE facegate;" in init
    for name in ("nocodb", "facegate", "facegate-2"):
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    # The second instance: no host port (the first has 8000), a data folder of its own, the same
    # politicians and NocoDB storage as the first.
    second, first = services["facegate-2"], COMPOSE["services"]["facegate"]
    assert "ports" not in second and second["build"] == first["build"]
    shared = {v for v in first["volumes"] if not v.startswith("facegate-data:")}
    assert shared <= set(second["volumes"]) and "facegate-2-data:/var/lib/facegate" in second["volumes"]
    assert (
        second["environment"].items()
        >= {k: v for k, v in first["environment"].items() if k != "FACEGATE_DATABASE_URL"}.items()
    )


def test_compose_serves_facegate_through_caddy_which_alone_it_trusts() -> None:
    services = COMPOSE["services"]
    caddy, facegate = services["caddy"], services["facegate"]
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert caddy["image"] == f"caddy:{CADDY_TESTED}"  # the version the https browser test runs
    address = caddy["networks"]["default"]["ipv4_address"]
    (subnet,) = [pool["subnet"] for pool in COMPOSE["networks"]["default"]["ipam"]["config"]]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert facegate["environment"]["FACEGATE_TRUSTED_PROXIES"] == address
    # Only Caddy is reachable from outside; facegate and NocoDB answer on loopback.
    assert {p.split(":")[0] for p in facegate["ports"] + services["nocodb"]["ports"]} == {"127.0.0.1"}
    shipped = (ROOT / "deploy/caddy/Caddyfile").read_text()
    assert "{$FACEGATE_DOMAIN" in shipped and "reverse_proxy {$FACEGATE_UPSTREAM:facegate:8000}" in shipped


def test_the_image_bakes_the_bank_of_other_people_in() -> None:
    # `facegate politicians calibrate` runs in the image without downloading: the bank and its faces
    # are fetched and analysed at build time, where the image's user may write its cache.
    assert "ENV FACEGATE_BANK_DIR=/srv/facegate/bank" in DOCKERFILE
    assert "facegate politicians bank" in DOCKERFILE
    assert re.search(r"chown -R facegate .*/srv/facegate/bank", DOCKERFILE)
