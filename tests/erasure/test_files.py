"""Which locations of an attachment the download may use: only those naming the file proved its own."""

from __future__ import annotations

from typing import Any

import pytest

from app.erasure.files import same_file

REL = "2026/11/22/60e65c63f9091a580cbaec91b037645612f9eb7e/obama2_NYv8b.jpg"
OTHER = "2026/11/22/0123456789abcdef0123456789abcdef01234567/private_AbCdE.jpg"
OBJECT = f"https://bucket.s3.example.org/nc/uploads/{REL}"


@pytest.mark.parametrize(
    "attachment",
    [
        {"path": f"download/{REL}", "signedPath": f"dltemp/tok/1795321200000/{REL}", "title": "a.jpg"},
        {"path": f"download/{REL}", "url": f"http://nocodb:8080/download/{REL}"},
        {"signedPath": f"dltemp/tok/1795321200000/{REL}", "url": f"https://x.org/base/dltemp/t/1/{REL}"},
        {"url": OBJECT, "signedUrl": OBJECT + "?X-Amz-Signature=abc&X-Amz-Expires=3600"},
        # NocoDB 0.301 on an http endpoint: an https url, an http signed one (tests/erasure/test_s3_nocodb.py)
        {"url": OBJECT, "signedUrl": OBJECT.replace("https:", "http:") + "?X-Amz-Signature=abc"},
    ],
)
def test_locations_of_the_proved_file_are_all_kept(attachment: dict[str, Any]) -> None:
    assert same_file(attachment) == attachment


@pytest.mark.parametrize(
    ("attachment", "kept"),
    [
        # Proved by its signedPath; the url names a private table's photo on the same NocoDB.
        (
            {
                "signedPath": f"dltemp/forged/1795386600000/{REL}",
                "url": f"http://nocodb:8080/download/{OTHER}",
            },
            {"signedPath"},
        ),
        ({"path": f"download/{REL}", "signedPath": f"dltemp/tok/1/{OTHER}"}, {"path"}),
        ({"path": f"download/{REL}", "signedUrl": f"http://nocodb:8080/download/{REL}.png"}, {"path"}),
        ({"url": OBJECT, "signedUrl": OBJECT.replace("obama2", "other") + "?X-Amz-Signature=abc"}, {"url"}),
        ({"path": "download/../../noco.db", "url": f"http://nocodb:8080/download/{REL}"}, set()),
        ({"url": "http://[not-an-ip/a.jpg"}, set()),  # the download refuses it (tests/hostile)
        ({"path": f"download/{REL}", "url": "http://[not-an-ip/a.jpg"}, {"path"}),
    ],
)
def test_locations_naming_another_file_are_dropped(attachment: dict[str, Any], kept: set[str]) -> None:
    assert set(same_file(attachment)) == kept
