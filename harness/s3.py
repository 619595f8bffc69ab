"""An S3-compatible server on this machine: moto in server mode, in its own process on a free loopback
port, with one empty bucket. Used by the S3 erasure tests, alone and behind a real NocoDB.

moto keeps everything in memory, accepts any credentials and speaks plain HTTP.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
from botocore.config import Config

from harness.net import HOST, free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # a development dependency: types only

__all__ = ["LocalS3", "running_s3"]

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
REGION = "us-east-1"
# moto checks neither; they only have to be present and the same on both sides.
ACCESS_KEY_ID = "harness-access-key"
SECRET_ACCESS_KEY = "harness-secret-key"


@dataclass(frozen=True)
class LocalS3:
    endpoint_url: str
    bucket: str
    log_path: Path
    region: str = REGION
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY

    @functools.cached_property
    def client(self) -> S3Client:
        """A client of our own, to look into the bucket (path-style: the host is an IP address)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def object_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``, sorted."""
        found: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def nocodb_env(self, *, force_path_style: bool = True) -> dict[str, str]:
        """NocoDB's settings for storing attachments in this bucket (its S3 plugin, set from NC_S3_*)."""
        return {
            "NC_S3_BUCKET_NAME": self.bucket,
            "NC_S3_REGION": self.region,
            "NC_S3_ENDPOINT": self.endpoint_url,
            "NC_S3_ACCESS_KEY": self.access_key_id,
            "NC_S3_ACCESS_SECRET": self.secret_access_key,
            "NC_S3_FORCE_PATH_STYLE": "true" if force_path_style else "false",
        }

    def facegate_env(self) -> dict[str, str]:
        """facegate's settings for erasing from this bucket and downloading from it."""
        return {
            "FACEGATE_S3_ENDPOINT_URL": self.endpoint_url,
            "FACEGATE_S3_BUCKET": self.bucket,
            "FACEGATE_S3_REGION": self.region,
            "FACEGATE_S3_ACCESS_KEY_ID": self.access_key_id,
            "FACEGATE_S3_SECRET_ACCESS_KEY": self.secret_access_key,
            "FACEGATE_S3_FORCE_PATH_STYLE": "true",
            "FACEGATE_ATTACHMENT_ALLOWED_ORIGINS": self.endpoint_url,
        }


@contextlib.contextmanager
def running_s3(bucket: str = "nocodb", log_dir: Path | None = None) -> Iterator[LocalS3]:
    """Start ``moto.server`` with ``bucket`` created; stop it however the block ends."""
    with contextlib.ExitStack() as stack:
        if log_dir is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facegate-s3-")))
        port = free_port()
        log_path = log_dir / "moto.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(_stop, process)
        server = LocalS3(endpoint_url=f"http://{HOST}:{port}", bucket=bucket, log_path=log_path)
        _wait_ready(server, process)
        server.client.create_bucket(Bucket=bucket)
        yield server


def _wait_ready(server: LocalS3, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto exited at start-up:\n{server.log_path.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            # moto's own health endpoint: answers once the server accepts requests.
            if httpx.get(f"{server.endpoint_url}/moto-api/", timeout=2).status_code == httpx.codes.OK:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto not ready after {START_TIMEOUT_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_SECONDS)
