"""Run a real NocoDB (npm package, embedded SQLite) on this machine.

Used by `make run` (scripts/up.py), the real-NocoDB tests, the benchmarks and the fault and load scripts.
The npm install is ~1.4 GB and takes minutes, so it lives in a cache folder outside the checkout, keyed
by a hash of ``package-lock.json``: changing the lock file gives a fresh install, and every later run
reuses it.

CLI::

    python -m harness.nocodb install
    python -m harness.nocodb start --port 8080 --data-dir .nocodb
    python -m harness.nocodb status --data-dir .nocodb
    python -m harness.nocodb stop --data-dir .nocodb

Only the standard library and httpx: this runs before the app's own dependencies matter.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from harness.net import HOST, free_port

PACKAGE_DIR = Path(__file__).resolve().parent / "nocodb_node"
PACKAGE_FILES = ("package.json", "package-lock.json", "server.js")
LOCK_FILE_NAME = "package-lock.json"
CACHE_ENV_VAR = "FACEGATE_NOCODB_CACHE"
DEFAULT_CACHE_ROOT = Path("~/.cache/facegate/nocodb")
# 16 hex chars of sha256 is plenty to tell lock files apart, and keeps paths short.
CACHE_KEY_LENGTH = 16
# Written last, so a half-finished (interrupted) install is detected and redone.
INSTALL_MARKER = ".facegate-install-complete"
# npm ci plus the sqlite3 compile take ~5 minutes on 2 cores; this only stops a hung install.
INSTALL_TIMEOUT_SECONDS = 30 * 60

DEFAULT_PORT = 8080
HEALTH_PATH = "/api/v1/health"
# NocoDB takes ~40 s to start on 2 cores; leave room for a busy CI machine.
DEFAULT_START_TIMEOUT_SECONDS = 180.0
DEFAULT_STOP_TIMEOUT_SECONDS = 30.0
HEALTH_POLL_INTERVAL_SECONDS = 0.5
HEALTH_REQUEST_TIMEOUT_SECONDS = 5.0
LOG_TAIL_LINES = 40

LOG_FILE_NAME = "nocodb.log"
PID_FILE_NAME = "nocodb.pid"
URL_FILE_NAME = "nocodb.url"
# Persisted so that a restart on the same data folder keeps issued JWTs (xc-auth) valid.
JWT_SECRET_FILE_NAME = "jwt_secret"
JWT_SECRET_BYTES = 32

STDERR_FD = 2


class LocalNocoDBError(RuntimeError):
    """Installing, starting or stopping the local NocoDB failed."""


def _log(message: str) -> None:
    print(f"[harness.nocodb] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- install


def cache_key(package_dir: Path = PACKAGE_DIR) -> str:
    """The cache folder name: a short hash of the lock file, which pins every installed package."""
    digest = hashlib.sha256((package_dir / LOCK_FILE_NAME).read_bytes()).hexdigest()
    return digest[:CACHE_KEY_LENGTH]


def default_cache_root() -> Path:
    """``$FACEGATE_NOCODB_CACHE``, else ``~/.cache/facegate/nocodb``."""
    configured = os.environ.get(CACHE_ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_CACHE_ROOT.expanduser()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive fcntl lock, so two test runs never install into the same folder at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_if_changed(source: Path, target: Path) -> None:
    """Atomically replace ``target`` when its content differs (a running node has already read it)."""
    content = source.read_bytes()
    if target.exists() and target.read_bytes() == content:
        return
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)


def _run_npm(args: list[str], cwd: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise LocalNocoDBError("npm is not on PATH: install Node.js 20+ and npm")
    _log(f"$ npm {' '.join(args)}  (in {cwd})")
    started = time.monotonic()
    # Output goes to our stderr (fd 2) so progress is visible and stdout stays clean for the CLI.
    result = subprocess.run(
        [npm, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=STDERR_FD,
        stderr=STDERR_FD,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise LocalNocoDBError(f"npm {' '.join(args)} failed with exit code {result.returncode}")
    _log(f"npm {args[0]} took {time.monotonic() - started:.0f} s")


def install_dir_for(cache_root: Path | None = None) -> Path:
    """Where ``install`` puts (or has put) NocoDB for the current lock file."""
    root = cache_root if cache_root is not None else default_cache_root()
    return root / cache_key()


def is_installed(cache_root: Path | None = None) -> bool:
    """Whether a completed install for the current lock file exists (install() would be instant)."""
    return (install_dir_for(cache_root) / INSTALL_MARKER).exists()


def install(cache_root: Path | None = None) -> Path:
    """Install the NocoDB npm package into the cache and return its folder (which holds server.js).

    Skipped when a previous install of the same lock file completed. ``--ignore-scripts`` because
    nocodb-sdk's preinstall (``npx only-allow pnpm``) fails under npm; sqlite3 is then the only
    package whose native build we need, hence the separate ``npm rebuild sqlite3``.
    """
    target = install_dir_for(cache_root)
    key = target.name
    marker = target / INSTALL_MARKER
    with _file_lock(target.parent / f"{key}.lock"):
        target.mkdir(parents=True, exist_ok=True)
        # server.js is not part of the key: refresh it on every call so edits take effect.
        _copy_if_changed(PACKAGE_DIR / "server.js", target / "server.js")
        if marker.exists():
            _log(f"NocoDB already installed in {target}")
            return target
        _log(f"installing NocoDB into {target} (a few minutes, ~1.4 GB)")
        started = time.monotonic()
        marker.unlink(missing_ok=True)
        for name in PACKAGE_FILES:
            _copy_if_changed(PACKAGE_DIR / name, target / name)
        # A clean slate repairs an interrupted install. Not `npm ci`: it rejects this lock file
        # ("Missing: @msgpackr-extract/msgpackr-extract-darwin-arm64"), because npm leaves other
        # platforms' optional packages out of it; `npm install` honours the lock all the same.
        shutil.rmtree(target / "node_modules", ignore_errors=True)
        _run_npm(["install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-save"], target)
        _run_npm(["rebuild", "sqlite3"], target)
        marker.write_text(f"{key}\n")
        _log(f"NocoDB installed in {time.monotonic() - started:.0f} s")
    return target


# ------------------------------------------------------------------------------------------- run


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like node's listen(): connections in TIME_WAIT after a restart must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _jwt_secret(data_dir: Path) -> str:
    """Read, or create once, the data folder's JWT secret."""
    path = data_dir / JWT_SECRET_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(JWT_SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


def read_pid(data_dir: Path) -> int | None:
    """The pid recorded in ``data_dir``, if any."""
    try:
        return int((data_dir / PID_FILE_NAME).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def pid_is_nocodb(pid: int) -> bool:
    """Whether ``pid`` is alive and (where /proc tells us) our ``node server.js``: pids get reused."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True
    try:
        return b"server.js" in cmdline.read_bytes()
    except OSError:
        return False


def _health_ok(url: str) -> bool:
    try:
        response = httpx.get(url + HEALTH_PATH, timeout=HEALTH_REQUEST_TIMEOUT_SECONDS)
    except httpx.HTTPError:
        return False
    return response.status_code == httpx.codes.OK


def _log_tail(path: Path, start_offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(start_offset)
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child (e.g. started by an earlier CLI call) to exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_is_nocodb(pid):
            return True
        time.sleep(HEALTH_POLL_INTERVAL_SECONDS)
    return not pid_is_nocodb(pid)


def stop_pid(pid: int, timeout: float = DEFAULT_STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the process group of ``pid`` (it is a group leader), then SIGKILL after ``timeout``."""
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _log(f"NocoDB (pid {pid}) ignored SIGTERM for {timeout:.0f} s: killing it")
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, timeout)


class LocalNocoDB:
    """One NocoDB process on 127.0.0.1 with its data in ``data_dir``; stop() and start() may repeat.

    ``port`` and ``data_dir`` may be given here (for ``with LocalNocoDB(...)``) or to ``start``; a later
    ``start()`` without them reuses the previous ones, which is how tests restart the same instance.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        install_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self._port = port
        self._data_dir = data_dir
        self._install_dir = install_dir
        self._extra_env = dict(extra_env or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8080``."""
        if self._port is None:
            raise LocalNocoDBError("no port yet: call start() first")
        return f"http://{HOST}:{self._port}"

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise LocalNocoDBError("no data_dir yet: call start() first")
        return self._data_dir

    @property
    def uploads_dir(self) -> Path:
        """Where NocoDB keeps uploaded files (its thumbnails are in ``thumbnails`` beside it)."""
        return self.data_dir / "nc" / "uploads"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _environment(self, data_dir: Path, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PORT": str(port),
                "NC_TOOL_DIR": str(data_dir),
                # NocoDB compares these with the string "true": "1" would leave telemetry on.
                "NC_DISABLE_TELE": "true",
                "NC_DISABLE_ERR_REPORTS": "true",
                # Without it NocoDB refuses webhooks to 127.0.0.1 (a "private IP").
                "NC_ALLOW_LOCAL_HOOKS": "true",
                "NC_AUTH_JWT_SECRET": _jwt_secret(data_dir),
                # Attachments only through signed links that expire, never the public download/ path.
                "NC_SECURE_ATTACHMENTS": "true",
                # NocoDB's audit log keeps every uploader's address, browser and row (file name
                # included), even after the row is deleted.
                "NC_DISABLE_AUDIT": "true",
            }
        )
        env.update(self._extra_env)
        return env

    def start(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_START_TIMEOUT_SECONDS,
    ) -> None:
        """Launch ``node server.js`` in its own process group and wait until it answers health checks."""
        if self.is_running():
            raise LocalNocoDBError(f"already running at {self.url}")
        self._port = port if port is not None else self._port or DEFAULT_PORT
        if data_dir is not None:
            self._data_dir = data_dir
        if extra_env is not None:
            self._extra_env.update(extra_env)
        data = self.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        self._refuse_if_already_running(data)
        if not _port_is_free(self._port):
            # Otherwise the health check could be answered by whatever already listens there.
            raise LocalNocoDBError(f"port {self._port} on {HOST} is already in use")
        install_dir = self._install_dir or install()
        self._install_dir = install_dir

        log_path = data / LOG_FILE_NAME
        with log_path.open("ab") as log:
            log_offset = log.tell()
            self._process = subprocess.Popen(
                ["node", "server.js"],
                cwd=install_dir,
                env=self._environment(data, self._port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals the whole tree
            )
        (data / PID_FILE_NAME).write_text(f"{self._process.pid}\n")
        (data / URL_FILE_NAME).write_text(f"{self.url}\n")
        _log(f"starting NocoDB (pid {self._process.pid}) at {self.url}, log {log_path}")
        self._wait_healthy(log_path, log_offset, timeout)

    def _refuse_if_already_running(self, data: Path) -> None:
        pid = read_pid(data)
        if pid is not None and pid_is_nocodb(pid):
            raise LocalNocoDBError(f"NocoDB (pid {pid}) already runs on {data}: stop it first")

    def _wait_healthy(self, log_path: Path, log_offset: int, timeout: float) -> None:
        assert self._process is not None
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._forget_process()
                raise LocalNocoDBError(
                    f"NocoDB exited with code {code} while starting; log tail:\n"
                    + _log_tail(log_path, log_offset)
                )
            if _health_ok(self.url):
                _log(f"NocoDB is up at {self.url} after {time.monotonic() - started:.1f} s")
                return
            time.sleep(HEALTH_POLL_INTERVAL_SECONDS)
        self.stop()
        raise LocalNocoDBError(
            f"NocoDB did not become healthy within {timeout:.0f} s; log tail:\n"
            + _log_tail(log_path, log_offset)
        )

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; a no-op when not running."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _log(f"NocoDB ignored SIGTERM for {timeout:.0f} s: killing it")
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout)
        # Children of node (none expected) would share the group: make sure nothing lingers.
        _signal_group(process.pid, signal.SIGKILL)
        self._forget_process()
        _log(f"NocoDB at {self.url} stopped")

    def _forget_process(self) -> None:
        self._process = None
        if self._data_dir is not None:
            (self._data_dir / PID_FILE_NAME).unlink(missing_ok=True)

    def __enter__(self) -> LocalNocoDB:
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
def running_nocodb(data_dir: Path | None = None) -> Iterator[LocalNocoDB]:
    """Install (cached) and start NocoDB on a free port; stopped however the block ends.

    Its data goes to ``data_dir``, or to a temporary folder removed afterwards.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facegate-nocodb-")))
        server = LocalNocoDB(install_dir=install())
        stack.callback(server.stop)  # before the folder is removed; a no-op if start() failed
        server.start(port=free_port(), data_dir=data_dir)
        yield server


# ------------------------------------------------------------------------------------------- CLI


def _cmd_install(args: argparse.Namespace) -> int:
    print(install(args.cache_root))
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    server = LocalNocoDB(port=args.port, data_dir=args.data_dir)
    server.start(timeout=args.timeout)
    print(server.url)
    # Leave it running: the CLI exits, NocoDB stays in its own session; `stop` uses the pid file.
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    pid = read_pid(args.data_dir)
    if pid is None or not pid_is_nocodb(pid):
        print("not running")
        (args.data_dir / PID_FILE_NAME).unlink(missing_ok=True)
        return 0
    stop_pid(pid, args.timeout)
    (args.data_dir / PID_FILE_NAME).unlink(missing_ok=True)
    print(f"stopped pid {pid}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when running and healthy, 1 when running but unhealthy, 3 when not running."""
    pid = read_pid(args.data_dir)
    if pid is None or not pid_is_nocodb(pid):
        print("not running")
        return 3
    try:
        url = (args.data_dir / URL_FILE_NAME).read_text().strip()
    except FileNotFoundError:
        print(f"running (pid {pid}), url unknown")
        return 1
    healthy = _health_ok(url)
    print(f"running (pid {pid}) at {url}: {'healthy' if healthy else 'NOT healthy'}")
    return 0 if healthy else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.nocodb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p_install = commands.add_parser("install", help="install NocoDB into the cache folder")
    p_install.add_argument("--cache-root", type=Path, default=None)
    p_install.set_defaults(func=_cmd_install)

    p_start = commands.add_parser("start", help="start NocoDB detached; returns once healthy")
    p_start.add_argument("--port", type=int, default=DEFAULT_PORT)
    p_start.add_argument("--data-dir", type=Path, required=True)
    p_start.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT_SECONDS)
    p_start.set_defaults(func=_cmd_start)

    p_stop = commands.add_parser("stop", help="stop the NocoDB whose pid file is in --data-dir")
    p_stop.add_argument("--data-dir", type=Path, required=True)
    p_stop.add_argument("--timeout", type=float, default=DEFAULT_STOP_TIMEOUT_SECONDS)
    p_stop.set_defaults(func=_cmd_stop)

    p_status = commands.add_parser("status", help="is the NocoDB of --data-dir running and healthy?")
    p_status.add_argument("--data-dir", type=Path, required=True)
    p_status.set_defaults(func=_cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except LocalNocoDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
