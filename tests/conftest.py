from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from selenium import webdriver

from app.config import Settings
from app.faces.engine import FaceEngine
from app.faces.intake import decode
from app.main import create_app
from app.verification import FaceService
from harness.images import ROOT, SAMPLES, sample
from harness.nocodb import LocalNocoDB, is_installed, running_nocodb
from harness.postgres import LocalPostgres, running_postgres
from tests.utils.browser import start_chromium
from tests.utils.clock import Clock
from tests.utils.faces import CONFIG, LIMITS
from tests.utils.stores import BACKENDS, Stores, fresh_stores


@pytest.fixture(scope="session", autouse=True)
def _samples_present() -> None:
    missing = [
        p for p in (SAMPLES / "obama2.jpg", ROOT / "reference_faces/obama/obama.jpg") if not p.exists()
    ]
    if missing:
        pytest.exit(f"sample photos missing ({missing[0]}): run `python3 scripts/fetch_samples.py`", 2)


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo reference folder (obama, biden), so tests may not disturb the real one."""
    target = tmp_path_factory.mktemp("refs") / "reference_faces"
    shutil.copytree(ROOT / "reference_faces", target)
    return target


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path) -> Settings:
    """The session app's settings: no operator key, so the operator endpoints are opened explicitly
    (tests/hostile/test_access.py covers them closed, and with a key)."""
    return Settings(
        _env_file=None,
        reference_dir=reference_dir,
        data_dir=tmp_path_factory.mktemp("data"),
        workers=2,
        webhook_secret="test-webhook-secret",
        operator_endpoints_open=True,
        metrics_public=True,
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app, with its face worker processes, shared by the API tests."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def faces(client: TestClient) -> FaceService:
    """The app's face service: its references and its real worker processes."""
    service: FaceService = client.app.state.runtime.faces  # type: ignore[attr-defined]
    return service


@pytest.fixture
def clock() -> Clock:
    """A clock set to ``T0`` and moved by hand; the ``stores`` of a test that asks for it run on it."""
    return Clock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_backends`` run once on SQLite and once on the real PostgreSQL."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The stores' backend: SQLite, unless the test is marked ``both_backends``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """A new, empty database: a SQLite file, or a database of its own on the session's PostgreSQL."""
    if backend == "sqlite":
        yield tmp_path / "facegate.db"
        return
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def stores(database: Path | str, request: pytest.FixtureRequest) -> Iterator[Stores]:
    """Fresh, empty stores of facegate's own (queue, decision log, approvals) over one database, on
    the test's ``clock`` if it asks for one, else on real time."""
    clock = request.getfixturevalue("clock").time if "clock" in request.fixturenames else time.time
    with fresh_stores(database, clock) as fresh:
        yield fresh


# ------------------------------------------------------------------------- the real NocoDB
# Any test that uses the ``nocodb`` fixture (tests/commands/bootstrap, tests/moderation/test_loop_nocodb.py,
# tests/carousel/test_browser.py, tests/test_cli.py) is marked ``integration``.

# A cold npm install (~2 min) plus sqlite3's compile (~1-2 min) plus NocoDB's first start can
# exceed pyproject's per-test timeout of 300 s; it runs inside the first test's fixture setup.
COLD_INSTALL_TIMEOUT_SECONDS = 1500


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the real NocoDB; allow for a cold install when there is none yet."""
    needs = [item for item in items if "nocodb" in getattr(item, "fixturenames", ())]
    cold = bool(needs) and not is_installed()
    for item in needs:
        item.add_marker(pytest.mark.integration)
        if cold:
            item.add_marker(pytest.mark.timeout(COLD_INSTALL_TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def nocodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNocoDB]:
    """A real NocoDB for the session: installed (cached), on a free port, its data in a temporary folder.

    If NocoDB cannot be installed or started this errors: these tests must never be skipped silently
    in CI. Deselect them explicitly with ``-m "not integration"``.
    """
    with running_nocodb(tmp_path_factory.mktemp("nocodb")) as server:
        yield server


# ------------------------------------------------------------------------- the real PostgreSQL
# A throwaway cluster of the session's own (harness/postgres.py), never the system one on 5432.
# `make test` installs PostgreSQL first. A test takes a database of its own:
# ``url = postgres.create_database(name)``, and ``postgres.drop_database(name)`` after it.


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A real PostgreSQL server for the session on a free port, with fsync off: its data is thrown away.

    If it cannot start this errors (with the server log's tail), never skips: CI must run these tests.
    """
    with running_postgres(fast=True) as server:
        yield server


# ------------------------------------------------------------------------- the face engine
# Shared by tests/faces and tests/politicians (the reference audit), built once per session.


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    """A face engine in the test process (the app runs its engines in worker processes)."""
    return FaceEngine(CONFIG)


@pytest.fixture(scope="session")
def real_encodings(engine: FaceEngine) -> dict[str, np.ndarray]:
    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "obama_partial_face.jpg"]
    out = {}
    for name in names:
        found = engine.find_faces(decode(sample(name), LIMITS))
        assert len(found.boxes) == 1, name
        out[name] = found.encodings[0]
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium per test module (``tests.utils.browser``)."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield driver
    finally:
        driver.quit()
