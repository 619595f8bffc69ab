"""Which objects of NocoDB's S3 bucket belong to an attachment, and removing only those, against a real
S3-compatible server (moto, started by the tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from app.erasure.s3 import S3Uploads
from app.erasure.storage import PurgeRefused, Removed, StorageUnavailable
from harness.net import free_port
from harness.s3 import LocalS3, running_s3

REL = "2026/11/22/60e65c63f9091a580cbaec91b037645612f9eb7e/my cat_FNUl5.png"
OTHER = "2026/11/22/60e65c63f9091a580cbaec91b037645612f9eb7e/obama2_NYv8b.jpg"
ENDPOINT = "http://127.0.0.1:9000"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with running_s3(log_dir=tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def uploads(s3: LocalS3) -> Iterator[S3Uploads]:
    yield _uploads(s3)
    client = s3.client
    for key in s3.object_keys():
        client.delete_object(Bucket=s3.bucket, Key=key)


def _uploads(s3: LocalS3, **overrides: object) -> S3Uploads:
    arguments: dict[str, object] = {
        "bucket": s3.bucket,
        "endpoint_url": s3.endpoint_url,
        "region": s3.region,
        "access_key_id": s3.access_key_id,
        "secret_access_key": SecretStr(s3.secret_access_key),
        "force_path_style": True,
    }
    return S3Uploads(**(arguments | overrides))  # type: ignore[arg-type]


def _url(s3: LocalS3, rel: str) -> str:
    """The ``url`` NocoDB 0.301.3 writes for a path-style endpoint: https whatever the endpoint's scheme,
    the key not percent-encoded."""
    return f"{s3.endpoint_url.replace('http://', 'https://')}/{s3.bucket}/nc/uploads/{rel}"


def _store(s3: LocalS3, rel: str, size: int = 100) -> None:
    """An upload as NocoDB 0.301.3 stores it in S3: the original and three thumbnails."""
    client = s3.client
    client.put_object(Bucket=s3.bucket, Key=f"nc/uploads/{rel}", Body=b"x" * size)
    for name in ("tiny", "small", "card_cover"):
        client.put_object(Bucket=s3.bucket, Key=f"nc/thumbnails/{rel}/{name}.jpg", Body=b"t" * 10)


# ------------------------------------------------------------------------------- URL to key


@pytest.mark.parametrize(
    "url",
    [
        f"https://127.0.0.1:9000/nocodb/nc/uploads/{REL}",  # NocoDB's path-style url (always https)
        f"http://127.0.0.1:9000/nocodb/nc/uploads/{REL}",
        f"https://nocodb.127.0.0.1:9000/nc/uploads/{REL}",  # NocoDB's virtual-hosted url
        f"https://127.0.0.1:9000/nocodb/nc/uploads/{REL.replace(' ', '%20')}",  # quoted once
    ],
)
def test_path_style_and_virtual_hosted_urls_name_the_same_key(url: str) -> None:
    assert S3Uploads(bucket="nocodb", endpoint_url=ENDPOINT).key(url) == f"nc/uploads/{REL}"


@pytest.mark.parametrize(
    "url",
    [
        f"https://nocodb.s3.eu-west-1.amazonaws.com/nc/uploads/{REL}",  # what NocoDB writes for AWS
        f"https://s3.eu-west-1.amazonaws.com/nocodb/nc/uploads/{REL}",
        f"https://nocodb.s3.amazonaws.com/nc/uploads/{REL}",
    ],
)
def test_without_an_endpoint_the_urls_of_aws_are_accepted(url: str) -> None:
    assert S3Uploads(bucket="nocodb", region="eu-west-1").key(url) == f"nc/uploads/{REL}"


def test_the_default_port_is_the_same_host() -> None:
    uploads = S3Uploads(bucket="nocodb", endpoint_url="https://minio.example:443")
    assert uploads.key(f"https://minio.example/nocodb/nc/uploads/{REL}") == f"nc/uploads/{REL}"


@pytest.mark.parametrize(
    "url",
    [
        f"https://127.0.0.1:9000/other/nc/uploads/{REL}",  # another bucket, path-style
        f"https://other.127.0.0.1:9000/nc/uploads/{REL}",  # another bucket, virtual-hosted
        f"https://127.0.0.1:9001/nocodb/nc/uploads/{REL}",  # another port
        f"https://evil.example/nocodb/nc/uploads/{REL}",  # another host
        f"https://nocodb.s3.eu-west-1.amazonaws.com/nc/uploads/{REL}",  # AWS, but an endpoint is set
        f"https://user@127.0.0.1:9000/nocodb/nc/uploads/{REL}",
        f"ftp://127.0.0.1:9000/nocodb/nc/uploads/{REL}",
        f"https://127.0.0.1:9000/nocodb/nc/uploads/{REL}?versionId=1",
        "https://127.0.0.1:9000/nocodb/nc/uploads/2026/11/22/abc/../../../../../noco.db",
        "https://127.0.0.1:9000/nocodb/nc/uploads/2026/11/22/abc/%2e%2e",
        "https://127.0.0.1:9000/nocodb/nc/uploads/2026/11/22/a%0d%0ab.jpg",
        "https://127.0.0.1:9000/nocodb/nc/uploads/2026/11/22/abc/a%0d%0ab.jpg",
        "https://127.0.0.1:9000/nocodb/nc/uploads/2026/11/22/a.jpg",  # not YYYY/MM/DD/folder/file
        f"https://127.0.0.1:9000/nocodb/nc/thumbnails/{REL}/tiny.jpg",  # outside the uploads prefix
        "https://127.0.0.1:9000/nocodb/nc/profilePics/abc/me.jpg",
        "https://127.0.0.1:9000/nocodb/",
        "https://127.0.0.1:notaport/nocodb/nc/uploads/a.jpg",
        "https://127.0.0.1:9000/nocodb/nc/uploads/2026/11/22/abc/" + "é" * 600 + ".jpg",  # S3 says 400
    ],
)
def test_urls_that_are_not_a_nocodb_upload_in_the_bucket_are_refused(url: str) -> None:
    with pytest.raises(PurgeRefused):
        S3Uploads(bucket="nocodb", endpoint_url=ENDPOINT).key(url)


def test_an_endpoint_that_is_not_an_http_url_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="FACEGATE_S3_ENDPOINT_URL"):
        S3Uploads(bucket="nocodb", endpoint_url="127.0.0.1:9000")


# ------------------------------------------------------------------------------- on the server


def test_remove_deletes_the_upload_and_its_thumbnails_only(s3: LocalS3, uploads: S3Uploads) -> None:
    _store(s3, REL, size=1000)
    _store(s3, OTHER)  # the same 40-hex folder: another upload
    s3.client.put_object(Bucket=s3.bucket, Key="nc/profilePics/abc/me.jpg", Body=b"p")
    assert uploads.remove(_url(s3, REL)) == Removed(files=4, bytes=1030)
    assert s3.object_keys() == sorted(
        [
            "nc/profilePics/abc/me.jpg",
            f"nc/uploads/{OTHER}",
            *(f"nc/thumbnails/{OTHER}/{name}.jpg" for name in ("tiny", "small", "card_cover")),
        ]
    )
    assert uploads.remove(_url(s3, REL)) == Removed()  # again: nothing left, nothing counted


def test_a_missing_object_counts_as_nothing(uploads: S3Uploads, s3: LocalS3) -> None:
    assert uploads.remove(_url(s3, REL)) == Removed()


def test_thumbnails_are_removed_when_the_original_is_already_gone(uploads: S3Uploads, s3: LocalS3) -> None:
    _store(s3, REL)
    s3.client.delete_object(Bucket=s3.bucket, Key=f"nc/uploads/{REL}")
    assert uploads.remove(_url(s3, REL)) == Removed(files=3, bytes=30)
    assert s3.object_keys() == []


def test_a_refused_url_deletes_nothing(s3: LocalS3, uploads: S3Uploads) -> None:
    client = s3.client
    client.create_bucket(Bucket="other")
    client.put_object(Bucket="other", Key=f"nc/uploads/{REL}", Body=b"keep me")
    _store(s3, REL)
    other_bucket = _url(s3, REL).replace(f"/{s3.bucket}/", "/other/")
    with pytest.raises(PurgeRefused):
        uploads.remove(other_bucket)
    assert client.get_object(Bucket="other", Key=f"nc/uploads/{REL}")["Body"].read() == b"keep me"
    assert len(s3.object_keys()) == 4


def test_a_virtual_hosted_url_is_removed_through_a_path_style_client(s3: LocalS3, uploads: S3Uploads) -> None:
    _store(s3, REL)
    url = f"https://{s3.bucket}.{s3.endpoint_url.removeprefix('http://')}/nc/uploads/{REL}"
    assert uploads.remove(url) == Removed(files=4, bytes=130)


def test_a_server_that_is_down_is_unavailable_and_names_no_secret() -> None:
    secret = "do-not-print-this-secret"
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    uploads = S3Uploads(
        bucket="nocodb",
        endpoint_url=f"http://{host}",
        access_key_id="AKIDEXAMPLE",
        secret_access_key=SecretStr(secret),
        force_path_style=True,
    )
    with pytest.raises(StorageUnavailable) as caught:
        uploads.remove(f"https://{host}/nocodb/nc/uploads/{REL}")
    assert "could not be reached" in str(caught.value)
    assert secret not in str(caught.value) and "AKIDEXAMPLE" not in str(caught.value)


def test_a_bucket_that_does_not_exist_is_unavailable_not_empty(s3: LocalS3) -> None:
    uploads = _uploads(s3, bucket="missing")
    url = _url(s3, REL).replace(f"/{s3.bucket}/", "/missing/")
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        uploads.remove(url)


def test_the_client_is_made_once_on_first_use(s3: LocalS3, uploads: S3Uploads) -> None:
    assert uploads._client is None
    uploads.remove(_url(s3, REL))
    client = uploads._client
    uploads.remove(_url(s3, OTHER))
    assert client is not None and uploads._client is client
