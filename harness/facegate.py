"""facegate as a real server process (uvicorn), so tests, benchmarks and scripts can stop, kill and
restart it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.commands.serve import SERVER_FLAGS as SERVER_FLAGS  # re-exported for the tests
from harness import ROOT
from harness.net import free_port

# Every facegate the harness starts gets these (throwaway local instances).
WEBHOOK_SECRET = "harness-webhook-secret"
OPERATOR_KEY = "harness-operator-key"
STAMP_SECRET = "harness-stamp-secret"
START_TIMEOUT_SECONDS = 90.0
# uvicorn's flags as shipped, defined once by `facegate serve` (the image's CMD and `make run` use it).


class FacegateServer:
    def __init__(
        self,
        *,
        port: int,
        env: Mapping[str, str],
        workdir: Path,
        flags: Sequence[str] = SERVER_FLAGS,
    ) -> None:
        """``flags``: uvicorn's options besides the app and port (tests try others)."""
        self.port = port
        self.flags = tuple(flags)
        self.url = f"http://127.0.0.1:{port}"
        self.env = dict(env)
        self.workdir = workdir  # no .env there: the settings come from ``env`` only
        self.log_path = workdir / "facegate.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, ready: bool = True) -> None:
        """Start facegate and wait until it can moderate (``/readyz`` 200); with ``ready`` False only
        until it answers (``/healthz``: started, whatever its readiness says, e.g. NocoDB down)."""
        assert self._process is None, "already started"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")} | self.env
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--app-dir",
            str(ROOT),
            "--port",
            str(self.port),
            *self.flags,
        ]
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        probe = "readyz" if ready else "healthz"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"facegate exited at start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/{probe}", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"facegate not {probe} after {START_TIMEOUT_SECONDS} s:\n{self.log_tail()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 40.0) -> None:
        if self._process is None:
            return
        os.killpg(self._process.pid, sig)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(10)
        self._process = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "facegate is not running"
        return self._process.pid

    def pause(self) -> None:
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGCONT)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` (e.g. ``facegate_verdicts_total``) whose labels include
        ``labels``, from ``GET /metrics`` with the operator key."""
        response = httpx.get(f"{self.url}/metrics", headers={"X-API-Key": OPERATOR_KEY}, timeout=10)
        response.raise_for_status()
        return sum(
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def facegate_env(workdir: Path, *, workers: int = 2, sweep_seconds: int = 5) -> dict[str, str]:
    """Settings for a facegate in ``workdir``: its own copy of the references, its own data folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "reference_faces", workdir / "reference_faces", dirs_exist_ok=True)
    return {
        "FACEGATE_REFERENCE_DIR": str(workdir / "reference_faces"),
        "FACEGATE_DATA_DIR": str(workdir / "data"),
        "FACEGATE_WORKERS": str(workers),
        "FACEGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FACEGATE_OPERATOR_API_KEY": OPERATOR_KEY,
        "FACEGATE_STAMP_SECRET": STAMP_SECRET,
        "FACEGATE_SWEEP_INTERVAL_SECONDS": str(sweep_seconds),
    }


@contextlib.contextmanager
def running_facegate(
    workdir: Path,
    env: Mapping[str, str],
    port: int | None = None,
    *,
    flags: Sequence[str] = SERVER_FLAGS,
    ready: bool = True,
) -> Iterator[FacegateServer]:
    """Start facegate (``ready``: see ``FacegateServer.start``); stop it (and its face processes)
    however the block ends."""
    server = FacegateServer(port=port or free_port(), env=env, workdir=workdir, flags=flags)
    try:
        server.start(ready=ready)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):  # it died at start-up, or a fault killed it
            server.stop()
