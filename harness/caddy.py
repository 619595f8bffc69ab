"""Caddy on loopback, terminating TLS in front of facegate as ``deploy/caddy/Caddyfile`` does in
production, with Caddy's internal certificate authority instead of a public one.

The Caddyfile the tests run is a few global options (the internal CA, loopback ports, a storage
folder of its own, no admin endpoint) followed by ``import`` of the shipped file, whose domains and
upstreams come from the environment: what is tested is the shipped file itself. Debian's ``caddy``
package is installed by ``make browser`` (``make test`` runs it).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness import ROOT
from harness.net import HOST, free_port

__all__ = ["SHIPPED_CADDYFILE", "TESTED_VERSION", "LocalCaddy", "installed_version", "running_caddy"]

SHIPPED_CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
# Debian 12's package; docker-compose.yml pins the same version of Caddy's image.
TESTED_VERSION = "2.6.2"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# Where Caddy keeps its internal CA, under its storage folder.
AUTHORITY = Path("pki/authorities/local")

GLOBAL_OPTIONS = """{{
	local_certs
	skip_install_trust
	admin off
	auto_https disable_redirects
	http_port {http_port}
	https_port {https_port}
	storage file_system {storage}
}}
"""


@dataclass(frozen=True)
class LocalCaddy:
    """A running Caddy: its sites are ``https://127.0.0.1:<port>``; ``storage`` holds its CA."""

    storage: Path
    log_path: Path

    @property
    def root_certificate(self) -> Path:
        """The internal CA's root, for clients that verify (httpx's ``verify``)."""
        return self.storage / AUTHORITY / "root.crt"

    def intermediate_spki(self) -> str:
        """Base64 SHA-256 of the intermediate CA's public key, which signs every site certificate:
        Chromium's ``--ignore-certificate-errors-spki-list`` then trusts this CA's certificates, and
        no other's, without touching the system's trust store."""
        pem = (self.storage / AUTHORITY / "intermediate.crt").read_bytes()
        key = x509.load_pem_x509_certificate(pem).public_key()
        der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def installed_version() -> str:
    """``2.6.2`` for Debian's caddy 2.6.2 (``caddy version`` prints ``2.6.2`` or ``v2.6.2 h1:…``)."""
    binary = shutil.which("caddy")
    if binary is None:
        raise RuntimeError("caddy is missing: `make browser` installs Debian's caddy package")
    output = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout
    return output.split()[0].removeprefix("v")


def caddyfile(storage: Path, *, extra_sites: str = "") -> str:
    """Global options for loopback and the internal CA, the shipped file, then ``extra_sites``."""
    options = GLOBAL_OPTIONS.format(http_port=free_port(), https_port=free_port(), storage=storage)
    return f"{options}\nimport {SHIPPED_CADDYFILE}\n\n{extra_sites}\n"


@contextlib.contextmanager
def running_caddy(
    workdir: Path, env: Mapping[str, str], *, wait_for: str, extra_sites: str = ""
) -> Iterator[LocalCaddy]:
    """Run Caddy with the shipped Caddyfile, its ``{$VARIABLES}`` taken from ``env``, until the
    https site ``wait_for`` (``https://127.0.0.1:PORT``) answers over verified TLS."""
    binary = shutil.which("caddy")
    if binary is None:
        raise RuntimeError("caddy is missing: `make browser` installs Debian's caddy package")
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    config = workdir / "Caddyfile"
    config.write_text(caddyfile(storage, extra_sites=extra_sites))
    caddy = LocalCaddy(storage=storage, log_path=workdir / "caddy.log")
    environment = {**os.environ, **env, "HOME": str(workdir)}  # nothing lands in the real $HOME
    command = [binary, "run", "--config", str(config), "--adapter", "caddyfile"]
    with caddy.log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_serving(process, caddy, wait_for)
        yield caddy
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_serving(process: subprocess.Popen[bytes], caddy: LocalCaddy, url: str) -> None:
    """Until a TLS handshake with ``url`` verifies against the internal CA's root."""
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"caddy exited at start-up:\n{caddy.log_tail()}")
        if caddy.root_certificate.exists() and _handshake(caddy.root_certificate, port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"caddy not serving {url} after {START_TIMEOUT_SECONDS} s:\n{caddy.log_tail()}")


def _handshake(root: Path, port: int) -> bool:
    context = ssl.create_default_context(cafile=str(root))
    try:
        with (
            socket.create_connection((HOST, port), timeout=2) as sock,
            context.wrap_socket(sock, server_hostname=HOST),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False
