"""Real servers for the benchmarks: facegate under uvicorn, and a local NocoDB; always stopped after use."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from app.integrations.nocodb.bootstrap import BootstrapResult, bootstrap
from scripts.localnocodb import LocalNocoDB, free_port, install
from tests.images import ROOT
from tests.integration.facegate_server import FacegateServer

WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105 - a throwaway local instance
OPERATOR_KEY = "bench-operator-key"
ADMIN_EMAIL = "admin@facegate.bench"
ADMIN_PASSWORD = "Bench-Password-1"  # noqa: S105 - a throwaway local instance


def facegate_env(workdir: Path, nocodb: Mapping[str, str] | None = None, workers: int = 2) -> dict[str, str]:
    """Settings for a facegate in ``workdir``: its own copy of the references, its own data folder."""
    shutil.copytree(ROOT / "reference_faces", workdir / "reference_faces", dirs_exist_ok=True)
    return {
        "FACEGATE_REFERENCE_DIR": str(workdir / "reference_faces"),
        "FACEGATE_DATA_DIR": str(workdir / "data"),
        "FACEGATE_WORKERS": str(workers),
        "FACEGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FACEGATE_OPERATOR_API_KEY": OPERATOR_KEY,
        "FACEGATE_SWEEP_INTERVAL_SECONDS": "0",
        **(nocodb or {}),
    }


@contextmanager
def running_facegate(
    workdir: Path, env: Mapping[str, str], port: int | None = None
) -> Iterator[FacegateServer]:
    server = FacegateServer(port=port or free_port(), env=env, workdir=workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_pid(server: FacegateServer) -> int:
    return server.pid


@dataclass(frozen=True)
class NocoDB:
    server: LocalNocoDB
    workdir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def bootstrap(self, facegate_url: str, base_title: str) -> BootstrapResult:
        return asyncio.run(
            bootstrap(
                base_url=self.url,
                email=ADMIN_EMAIL,
                password=ADMIN_PASSWORD,
                facegate_url=facegate_url,
                webhook_secret=WEBHOOK_SECRET,
                politicians=["obama", "biden"],
                base_title=base_title,
            )
        )

    def api(self, setup: BootstrapResult) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"xc-token": setup.api_token}, timeout=60)


@contextmanager
def running_nocodb() -> Iterator[NocoDB]:
    """A fresh NocoDB (cached npm install) on a free port with its data in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as tmp:
        server = LocalNocoDB(install_dir=install())
        server.start(port=free_port(), data_dir=Path(tmp) / "nocodb")
        try:
            yield NocoDB(server=server, workdir=Path(tmp))
        finally:
            server.stop()


def nocodb_settings(nocodb: NocoDB, setup: BootstrapResult) -> dict[str, str]:
    return {
        "FACEGATE_NOCODB_URL": nocodb.url,
        "FACEGATE_NOCODB_API_TOKEN": setup.api_token,
        "FACEGATE_NOCODB_TABLE_ID": setup.table_id,
    }


def tree_rss(pid: int) -> dict[str, int]:
    """Resident memory in bytes of a process and all its descendants, by ``name pid``."""
    out: dict[str, int] = {}
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for process in processes:
        try:
            out[f"{process.name()} {process.pid}"] = process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return out
