"""Integration tests against a real NocoDB, installed and started by scripts/localnocodb.py.

If NocoDB cannot be installed or started the ``nocodb`` fixture errors: these tests must never be
skipped silently in CI. Deselect them explicitly with ``-m "not integration"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.localnocodb import LocalNocoDB, free_port, install, is_installed

INTEGRATION_DIR = Path(__file__).resolve().parent
ADMIN_EMAIL = "admin@facegate.test"
ADMIN_PASSWORD = "Integration-Test-Password-1"  # a throwaway local instance
# A cold npm install (~2 min) plus sqlite3's compile (~1-2 min) plus NocoDB's first start can
# exceed pyproject's per-test timeout of 300 s; it runs inside the first test's fixture setup.
COLD_INSTALL_TIMEOUT_SECONDS = 1500


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration; allow for a cold install when there is none yet."""
    cold = not is_installed()
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)
            if cold:
                item.add_marker(pytest.mark.timeout(COLD_INSTALL_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class NocoDBInstance:
    """A running NocoDB for the session; ``server`` lets tests stop and restart it."""

    server: LocalNocoDB
    admin_email: str
    admin_password: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def nocodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NocoDBInstance]:
    """Install (cached) and start NocoDB on a free port with its data in a temporary folder."""
    install_dir = install()
    server = LocalNocoDB(install_dir=install_dir)
    server.start(port=free_port(), data_dir=tmp_path_factory.mktemp("nocodb"))
    try:
        yield NocoDBInstance(server=server, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD)
    finally:
        server.stop()
