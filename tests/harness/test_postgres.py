"""harness.postgres: real throwaway clusters (about a second each), and the install decision without apt."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psutil
import psycopg
import pytest

from harness.images import ROOT
from harness.net import HOST, free_port
from harness.postgres import (
    LocalPostgres,
    LocalPostgresError,
    bin_dir,
    install,
    install_commands,
    running_postgres,
)


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (it is not our child: PID 1 reaps it when it gets to it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def _setting(url: str, name: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT current_setting(%s)", (name,)).fetchone()
    assert row is not None
    return str(row[0])


# ------------------------------------------------------------------------------------------- run


def test_serves_a_database_then_leaves_no_process_and_no_folder() -> None:
    server = LocalPostgres(fast=True)
    server.start()
    try:
        pid, folder, port = server.pid, server.folder, server.port
        assert pid is not None and server.is_running() and folder.is_dir()
        url = server.create_database("harness_check")
        assert url == f"postgresql://postgres@127.0.0.1:{port}/harness_check"
        with psycopg.connect(url) as connection:
            connection.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            connection.execute("INSERT INTO t VALUES (1, 'obama')")
        connection = psycopg.connect(url, autocommit=True)
        try:
            assert connection.execute("SELECT name FROM t WHERE id = 1").fetchone() == ("obama",)
            # WITH (FORCE): a session still connected does not keep the database alive.
            server.drop_database("harness_check")
            with pytest.raises(psycopg.OperationalError):
                connection.execute("SELECT 1")
        finally:
            connection.close()
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            psycopg.connect(url, connect_timeout=5).close()
    finally:
        server.stop()
    assert _gone(pid)
    assert not folder.exists()
    assert _refuses_connections(port)
    assert not server.is_running() and server.pid is None
    server.stop()  # a second stop is a no-op


def test_durable_unless_asked_to_be_fast(postgres: LocalPostgres) -> None:
    assert _setting(postgres.url("postgres"), "fsync") == "off"  # the session's fixture: fast
    with running_postgres() as durable:
        assert not durable.fast
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            assert _setting(durable.url("postgres"), name) == "on"
        assert _setting(durable.url("postgres"), "listen_addresses") == "127.0.0.1"


def test_an_interrupted_block_still_stops_it() -> None:
    started: list[tuple[int | None, Path]] = []

    def interrupted() -> None:
        with running_postgres(fast=True) as server:
            started.append((server.pid, server.folder))
            raise KeyboardInterrupt  # Ctrl-C: not even an Exception

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    ((pid, folder),) = started
    assert pid is not None and _gone(pid)
    assert not folder.exists()


def test_a_failed_start_says_why_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    folders: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(prefix: str) -> str:
        folders.append(Path(mkdtemp(prefix=prefix)))
        return str(folders[-1])

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    with socket.socket() as taken:
        taken.bind((HOST, free_port()))
        taken.listen()
        server = LocalPostgres(port=taken.getsockname()[1], fast=True)
        with pytest.raises(LocalPostgresError, match=r"(?s)did not start.*log tail.*could not bind"):
            server.start()
    assert folders and not folders[0].exists()
    assert server.pid is None and not server.is_running()


# --------------------------------------------------------------------------------------------- install


def test_installs_only_when_no_initdb_is_there(tmp_path: Path) -> None:
    ran: list[Sequence[str]] = []

    def fake_apt(command: Sequence[str]) -> None:
        ran.append(command)
        if "install" in command:
            (tmp_path / "15/bin").mkdir(parents=True)
            (tmp_path / "15/bin/initdb").touch()

    assert bin_dir(tmp_path) is None
    assert install(tmp_path, run=fake_apt, euid=0) == tmp_path / "15/bin"
    assert ran == [
        ["apt-get", "update", "-qq"],
        ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "postgresql"],
    ]
    assert install(tmp_path, run=fake_apt, euid=0) == tmp_path / "15/bin"
    assert len(ran) == 2  # installed: nothing run


def test_install_goes_through_sudo_unless_root() -> None:
    assert all(command[0] == "sudo" for command in install_commands(1000))
    assert all(command[0] != "sudo" for command in install_commands(0))


def test_install_fails_when_the_package_brought_no_initdb(tmp_path: Path) -> None:
    with pytest.raises(LocalPostgresError, match=r"no .*initdb"):
        install(tmp_path, run=lambda command: None, euid=0)


def test_the_newest_major_version_wins(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin/initdb").touch()
    (tmp_path / "16/bin").mkdir(parents=True)  # a client-only package: no initdb
    assert bin_dir(tmp_path) == tmp_path / "15/bin"


def test_the_cli_installs_or_finds_it() -> None:
    # `make test` ran this already, so it finds PostgreSQL and prints where.
    result = subprocess.run(
        [sys.executable, "-m", "harness.postgres", "install"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    assert (Path(result.stdout.strip()) / "initdb").is_file()
