"""Run a real, throwaway PostgreSQL cluster on this machine.

Used by the tests (the ``postgres`` fixture), the benchmarks and the scripts that run several facegate
instances on one database. Each ``LocalPostgres`` is its own cluster in a temporary folder, on a free
loopback port: never the system cluster that installing Debian's package starts on 5432, which a
machine may or may not have running.

CLI::

    python -m harness.postgres install

Only the standard library and psycopg: this runs before the app's own code matters.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from harness.net import HOST, free_port

# Debian's packages put each major version's tools here, off PATH.
LIB_ROOT = Path("/usr/lib/postgresql")
PACKAGE = "postgresql"
# apt-get update plus the install take about a minute; this only stops a hung one.
INSTALL_TIMEOUT_SECONDS = 15 * 60

# initdb refuses to run as root: as root, the server tools run as the user the package creates.
SERVER_USER = "postgres"
SUPERUSER = "postgres"
MAINTENANCE_DATABASE = "postgres"

# Start to ready takes a few seconds; leave room for a busy CI machine.
DEFAULT_START_TIMEOUT_SECONDS = 60.0
DEFAULT_STOP_TIMEOUT_SECONDS = 30.0
INITDB_TIMEOUT_SECONDS = 120.0
CONNECT_TIMEOUT_SECONDS = 10
GONE_POLL_INTERVAL_SECONDS = 0.1
LOG_TAIL_LINES = 40

DATA_DIR_NAME = "data"
LOG_FILE_NAME = "server.log"
PID_FILE_NAME = "postmaster.pid"

# What a test run may trade away: a crash loses committed transactions (the cluster is thrown away
# anyway). Never the default: the benchmarks measure what a durable server costs.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class LocalPostgresError(RuntimeError):
    """Installing, starting or stopping the local PostgreSQL failed."""


def _log(message: str) -> None:
    print(f"[harness.postgres] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- install


def _version_key(path: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,): numeric, so that 10 sorts after 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def bin_dir(lib_root: Path = LIB_ROOT) -> Path | None:
    """The newest installed major version's ``bin`` folder that has ``initdb``, if any."""
    found = [initdb.parent for initdb in lib_root.glob("*/bin/initdb") if initdb.is_file()]
    return max(found, key=_version_key, default=None)


def install_commands(euid: int) -> list[list[str]]:
    """What ``install`` runs when PostgreSQL is missing: through sudo unless we are root."""
    sudo = [] if euid == 0 else ["sudo"]
    noninteractive = ["env", "DEBIAN_FRONTEND=noninteractive"]
    return [
        [*sudo, "apt-get", "update", "-qq"],
        [*sudo, *noninteractive, "apt-get", "install", "-y", "-qq", PACKAGE],
    ]


def _run_install_command(command: Sequence[str]) -> None:
    _log(f"$ {shlex.join(command)}")
    # Output goes to our stderr (fd 2) so progress is visible and stdout stays clean for the CLI.
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, stdout=2, stderr=2, timeout=INSTALL_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise LocalPostgresError(f"{shlex.join(command)} failed with exit code {result.returncode}")


def install(
    lib_root: Path = LIB_ROOT,
    run: Callable[[Sequence[str]], None] = _run_install_command,
    euid: int | None = None,
) -> Path:
    """Install Debian's ``postgresql`` unless some version's ``initdb`` is there; return its bin folder.

    ``run`` and ``euid`` are the seams the tests use to check the decision without installing.
    """
    found = bin_dir(lib_root)
    if found is not None:
        _log(f"PostgreSQL already installed in {found}")
        return found
    _log("installing PostgreSQL from Debian's packages (about a minute)")
    for command in install_commands(os.geteuid() if euid is None else euid):
        run(command)
    found = bin_dir(lib_root)
    if found is None:
        raise LocalPostgresError(f"installed {PACKAGE}, yet there is no {lib_root}/*/bin/initdb")
    _log(f"PostgreSQL installed in {found}")
    return found


# ------------------------------------------------------------------------------------------- run


def _process_is_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie does not (pg_ctl's orphaned postmaster may wait unreaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc to tell: os.kill says it is there
    # "pid (comm) state ...": comm may hold spaces and parentheses, so split after the last ")".
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class LocalPostgres:
    """One throwaway cluster on 127.0.0.1, trusting every local connection to the ``postgres`` user.

    ``start()`` creates its folder (under tempfile's) and the cluster; ``stop()`` stops the server and
    removes the folder, so a stopped instance holds nothing and may be started again, afresh.
    ``fast=True`` turns off fsync and friends: fine for tests, wrong for benchmarks.
    """

    def __init__(self, *, port: int | None = None, fast: bool = False) -> None:
        self._requested_port = port
        self._port: int | None = None
        self.fast = fast
        self._folder: Path | None = None
        self._pid: int | None = None
        self._as_server_user = os.geteuid() == 0

    @property
    def port(self) -> int:
        if self._port is None:
            raise LocalPostgresError("not running: call start() first")
        return self._port

    @property
    def folder(self) -> Path:
        """The temporary folder: the cluster (``data``), its log and its socket."""
        if self._folder is None:
            raise LocalPostgresError("not running: call start() first")
        return self._folder

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while running."""
        return self._pid

    def is_running(self) -> bool:
        return self._pid is not None and _process_is_alive(self._pid)

    def url(self, database: str) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/<database>`` (no password: the cluster trusts)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def _tool(self, bindir: Path, name: str, *args: str) -> list[str]:
        command = [str(bindir / name), *args]
        return ["runuser", "-u", SERVER_USER, "--", *command] if self._as_server_user else command

    def _run_tool(self, command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        # cwd: the server user may not be allowed into ours (root's home), and would warn about it.
        return subprocess.run(
            command,
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> None:
        """Create the cluster and start its server; returns once it accepts connections.

        On failure everything started so far is stopped and removed, and the error has the log's tail.
        """
        if self._folder is not None:
            raise LocalPostgresError(f"already running on port {self._port}")
        bindir = bin_dir()
        if bindir is None:
            raise LocalPostgresError(
                f"no PostgreSQL in {LIB_ROOT}/*/bin: run `python -m harness.postgres install`"
            )
        started = time.monotonic()
        self._folder = Path(tempfile.mkdtemp(prefix="facegate-postgres-"))
        try:
            self._start(bindir, timeout)
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)  # a script that forgets stop() leaves no server behind
        _log(f"PostgreSQL (pid {self._pid}) is up at {self.url('')} after {time.monotonic() - started:.1f} s")

    def _start(self, bindir: Path, timeout: float) -> None:
        folder = self.folder
        if self._as_server_user:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        data, log = folder / DATA_DIR_NAME, folder / LOG_FILE_NAME
        # --no-sync: the cluster is thrown away, a crash right after initdb costs nothing. C locale:
        # the same on every machine, whatever locales it has (or LANG names).
        initdb = self._tool(
            bindir, "initdb", "-D", str(data), "-A", "trust", "-U", SUPERUSER,
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        result = self._run_tool(initdb, INITDB_TIMEOUT_SECONDS)
        if result.returncode != 0:
            raise LocalPostgresError(f"initdb failed with exit code {result.returncode}:\n{result.stderr}")
        self._port = self._requested_port or free_port()
        settings = [f"listen_addresses={HOST}", *(FAST_SETTINGS if self.fast else ())]
        options = ["-p", str(self._port), "-k", str(folder)]
        for setting in settings:
            options += ["-c", setting]
        pg_ctl = self._tool(
            bindir, "pg_ctl", "-D", str(data), "-o", shlex.join(options), "-l", str(log),
            "-w", "-t", str(round(timeout)), "start",
        )  # fmt: skip
        try:
            result = self._run_tool(pg_ctl, timeout + DEFAULT_STOP_TIMEOUT_SECONDS)
        finally:
            self._pid = self._read_pid()  # stop() must find a server that started, even on failure
        if result.returncode != 0 or self._pid is None:
            raise LocalPostgresError(
                f"PostgreSQL did not start on port {self._port} (pg_ctl exit code {result.returncode}); "
                f"log tail:\n{_log_tail(log)}"
            )

    def _read_pid(self) -> int | None:
        """The postmaster's pid from its pid file (gone once it stopped)."""
        try:
            first = (self.folder / DATA_DIR_NAME / PID_FILE_NAME).read_text().split("\n", 1)[0]
            return int(first)
        except (FileNotFoundError, ValueError):
            return None

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server (fast: sessions are cut) and remove the folder; a no-op when not started."""
        atexit.unregister(self.stop)
        folder = self._folder
        if folder is None:
            return
        pid = self._pid or self._read_pid()
        if pid is not None and _process_is_alive(pid):
            self._stop_server(pid, timeout)
        shutil.rmtree(folder, ignore_errors=True)
        self._folder = self._port = self._pid = None
        _log(f"PostgreSQL (pid {pid}) stopped and {folder} removed")

    def _stop_server(self, pid: int, timeout: float) -> None:
        bindir = bin_dir()
        data = str(self.folder / DATA_DIR_NAME)
        for mode in ("fast", "immediate"):  # immediate: no shutdown checkpoint, the data is discarded
            if bindir is None:
                break
            command = self._tool(bindir, "pg_ctl", "-D", data, "-m", mode, "-w", "-t", str(round(timeout)))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run_tool([*command, "stop"], timeout + DEFAULT_STOP_TIMEOUT_SECONDS)
            if self._wait_gone(pid, timeout):
                return
            _log(f"PostgreSQL (pid {pid}) did not stop with -m {mode}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # its backends exit when they see the postmaster gone
        self._wait_gone(pid, timeout)

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while _process_is_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(GONE_POLL_INTERVAL_SECONDS)
        return True

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        # autocommit: CREATE/DROP DATABASE cannot run inside a transaction.
        return psycopg.connect(
            self.url(MAINTENANCE_DATABASE), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, ending the sessions still connected to it; a no-op if missing."""
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_postgres(*, fast: bool = False) -> Iterator[LocalPostgres]:
    """A started throwaway cluster on a free port; stopped and removed however the block ends."""
    with LocalPostgres(fast=fast) as server:
        yield server


# ------------------------------------------------------------------------------------------- CLI


def _cmd_install(args: argparse.Namespace) -> int:
    print(install())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.postgres", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p_install = commands.add_parser("install", help="install Debian's postgresql unless it is installed")
    p_install.set_defaults(func=_cmd_install)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except LocalPostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
