"""NocoDB's S3-compatible attachment storage: which objects belong to an attachment, and removing them.

NocoDB's S3 plugin (set from ``NC_S3_BUCKET_NAME``, ``NC_S3_REGION``, ``NC_S3_ENDPOINT``,
``NC_S3_ACCESS_KEY``, ``NC_S3_ACCESS_SECRET``, ``NC_S3_FORCE_PATH_STYLE``, ``NC_S3_ACL``) stores an
upload as the object ``nc/uploads/<YYYY/MM/DD/hex/name>`` and its thumbnails as
``nc/thumbnails/<YYYY/MM/DD/hex/name>/{tiny,small,card_cover}.jpg``. The cell's ``url`` names the
object as ``https://<host>/<bucket>/<key>`` (path-style) or ``https://<bucket>.<host>/<key>``, where
``host`` is the endpoint's host and port, or ``s3.<region>.amazonaws.com``; the key is not
percent-encoded. The scheme is always ``https``, even for an ``http`` endpoint, so only the host is
compared. Anything else is refused: another host or bucket, a key outside ``nc/uploads``, ``..``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from app.erasure.storage import PurgeRefused, Removed, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # a development dependency: types only
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

__all__ = ["S3Uploads"]

UPLOADS_PREFIX = "nc/uploads/"
MAX_KEY_BYTES = 1024  # S3's limit on an object key
THUMBNAILS_PREFIX = "nc/thumbnails/"
# YYYY/MM/DD/<folder>/<file>, as NocoDB names an upload (the same shape as on its local disk).
_REL = re.compile(r"^\d{4}/\d{2}/\d{2}/[^/]+/[^/]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A purge runs in a worker thread and is retried later when it fails: fail fast, retry a little.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"max_attempts": 3, "mode": "standard"},
    # Checksums only where S3 requires them: several S3-compatible servers reject the newer headers.
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)


class S3Uploads:
    """The objects NocoDB keeps in one bucket: an upload and its thumbnails."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: SecretStr | None = None,
        force_path_style: bool = False,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.force_path_style = force_path_style
        if endpoint_url:
            parts = urlsplit(endpoint_url)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
                raise ValueError("FACEGATE_S3_ENDPOINT_URL must be an http(s) URL.")
            self.hosts = {_host(endpoint_url)}
        else:  # AWS: the regional endpoint NocoDB writes, and the global one
            self.hosts = {"s3.amazonaws.com"} | ({f"s3.{region}.amazonaws.com"} if region else set())
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def key(self, url: str) -> str:
        """The object key that ``url`` names in this bucket; ``PurgeRefused`` if it names none."""
        try:
            parts = urlsplit(url)
            host = _host(url)
        except ValueError as exc:  # a malformed port or IPv6 host
            raise PurgeRefused("The attachment's URL is malformed.") from exc
        if parts.scheme not in _DEFAULT_PORTS or parts.username or parts.query or parts.fragment:
            raise PurgeRefused("The attachment's URL is not a plain object URL.")
        path = unquote(parts.path)
        if host in self.hosts and path.startswith(f"/{self.bucket}/"):
            key = path.removeprefix(f"/{self.bucket}/")
        elif host in {f"{self.bucket.lower()}.{h}" for h in self.hosts}:
            key = path.removeprefix("/")
        else:
            raise PurgeRefused("The attachment's URL is not in the configured S3 bucket.")
        rel = key.removeprefix(UPLOADS_PREFIX)
        segments = rel.split("/")
        if (
            not key.startswith(UPLOADS_PREFIX)
            or not _REL.match(rel)
            or {".", ".."} & set(segments)
            or any(ord(c) < 32 or ord(c) == 127 for c in key)
            or len(key.encode()) > MAX_KEY_BYTES  # S3 refuses it (400): no object has it
        ):
            raise PurgeRefused("The attachment's URL is not a NocoDB upload in the S3 bucket.")
        return key

    def written_at(self, location: str) -> float | None:
        """When the object at ``location`` (its URL) was written: S3's ``Last-Modified``, to the
        second, set by the storage itself when NocoDB put it (nobody but the bucket's owner can
        change it); None when it is gone. Raises ``PurgeRefused`` or ``StorageUnavailable``."""
        key = self.key(location)
        with _unavailable():
            head = self._head(self._s3(), key)
        return None if head is None else head["LastModified"].timestamp()

    def remove(self, location: str) -> Removed:
        """Delete the upload at ``location`` (its URL) and its thumbnails; a missing object counts as
        nothing. Raises ``PurgeRefused``, or ``StorageUnavailable`` when S3 cannot be reached or
        refuses (credentials, permissions, a missing bucket, 5xx)."""
        key = self.key(location)
        thumbnails = f"{THUMBNAILS_PREFIX}{key.removeprefix(UPLOADS_PREFIX)}/"
        client = self._s3()
        with _unavailable():
            # Listing first: a wrong bucket or credentials fail here, never as "nothing to delete".
            found = self._listed(client, thumbnails)
            head = self._head(client, key)
            if head is not None:
                found[key] = head["ContentLength"]
            for name in found:
                client.delete_object(Bucket=self.bucket, Key=name)
        return Removed(len(found), sum(found.values()))

    def _listed(self, client: S3Client, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found |= {item["Key"]: item.get("Size", 0) for item in page.get("Contents", [])}
        return found

    def _head(self, client: S3Client, key: str) -> HeadObjectOutputTypeDef | None:
        """The object's metadata, or None when it is gone."""
        try:
            return client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise

    def _s3(self) -> S3Client:
        """The client, made on first use (importing botocore's models is slow) and then shared: boto3
        clients are thread-safe, sessions are not, so it gets a session of its own."""
        with self._lock:
            if self._client is None:
                secret = self._secret.get_secret_value() if self._secret else None
                config = CLIENT_CONFIG.merge(
                    Config(s3={"addressing_style": "path" if self.force_path_style else "auto"})
                )
                # Unset keys fall back to boto3's own chain (environment, instance role).
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint_url or None,
                    region_name=self.region or None,
                    aws_access_key_id=self.access_key_id or None,
                    aws_secret_access_key=secret or None,
                    config=config,
                )
            return self._client


@contextmanager
def _unavailable() -> Iterator[None]:
    """S3's refusals and outages as ``StorageUnavailable``: the purge or the decision waits."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # S3's own code and status only: its message may quote the request.
        raise StorageUnavailable(
            f"S3 answered {error.get('Code', 'an error')} ({status}) to {exc.operation_name}."
        ) from exc
    except BotoCoreError as exc:  # connection, timeout, missing credentials
        raise StorageUnavailable(f"S3 could not be reached: {type(exc).__name__}.") from exc


def _host(url: str) -> str:
    """``host[:port]`` in lower case, without the default port of the URL's own scheme."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    if ":" in host:
        host = f"[{host}]"
    return host if port is None or port == _DEFAULT_PORTS.get(parts.scheme) else f"{host}:{port}"
