from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.faces.service import FaceService
from app.main import create_app
from app.moderation.store import Store
from tests.images import ROOT, SAMPLES


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
    return Settings(
        _env_file=None,
        reference_dir=reference_dir,
        data_dir=tmp_path_factory.mktemp("data"),
        workers=2,
        webhook_secret="test-webhook-secret",
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app, with its face worker processes, shared by the API tests."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def faces(client: TestClient) -> FaceService:
    """The app's face service: its references and its real worker processes."""
    service: FaceService = client.app.state.faces  # type: ignore[attr-defined]
    return service


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of facegate's own."""
    store = Store(tmp_path / "facegate.db")
    yield store
    store.close()
