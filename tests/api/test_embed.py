"""What the embed script needs of the API, and other clients expect: politicians by any of their
names, 304 for images and the script, HEAD wherever GET works, CORS for the listed origins only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.assembly import Runtime
from app.carousel.store import ApprovalStore, NewApproval
from app.config import Settings
from app.faces.renditions import Rendition
from app.main import create_app

CAMPAIGN = "https://campaign.example"


@pytest.fixture
def approval(client: TestClient) -> Iterator[int]:
    """One live approval of obama with its renditions, withdrawn afterwards."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    store: ApprovalStore = runtime.carousel.store
    jpegs = {Rendition.IMAGE: b"\xff\xd8image", Rendition.THUMBNAIL: b"\xff\xd8thumbnail"}
    approval_id = store.add(NewApproval("tbl:95001:embed", "tbl", 95001, "obama", []), jpegs)
    yield approval_id
    store.remove([approval_id])


@pytest.mark.usefixtures("approval")
@pytest.mark.parametrize("name", ["obama", "Barack Obama", "  barack   OBAMA "])
def test_a_politician_is_named_by_slug_or_display_name(client: TestClient, name: str) -> None:
    items = client.get("/approved", params={"politician": name}).json()["items"]
    assert items and {i["politician"]["slug"] for i in items} == {"obama"}
    assert [p["slug"] for p in client.get("/politicians", params={"politician": name}).json()] == ["obama"]


def test_a_name_facegate_does_not_know_is_404(client: TestClient) -> None:
    for path in ("/approved", "/politicians"):
        response = client.get(path, params={"politician": "Petra Uno"})
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "unknown_politician" and error["detail"]["known"] == ["biden", "obama"]
    too_long = client.get("/approved", params={"politician": "x" * 201})
    assert too_long.status_code == 422


def test_images_answer_304_to_their_etag_and_404_once_withdrawn(client: TestClient, approval: int) -> None:
    for rendition in ("image", "thumbnail"):
        first = client.get(f"/approved/{approval}/{rendition}")
        etag = first.headers["etag"]
        assert first.status_code == 200 and first.headers["cross-origin-resource-policy"] == "cross-origin"
        for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = client.get(f"/approved/{approval}/{rendition}", headers={"If-None-Match": tag})
            assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
            assert again.headers["cache-control"] == first.headers["cache-control"]
        other = client.get(f"/approved/{approval}/{rendition}", headers={"If-None-Match": '"0-image"'})
        assert other.status_code == 200 and other.content == first.content
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.carousel.store.remove([approval])
    gone = client.get(f"/approved/{approval}/image", headers={"If-None-Match": f'"{approval}-image"'})
    assert gone.status_code == 404  # never a 304 that would keep a withdrawn picture in caches


@pytest.mark.usefixtures("approval")
def test_head_works_wherever_get_does(client: TestClient) -> None:
    paths = ("/approved", "/approved?politician=Barack%20Obama", "/politicians", "/site", "/embed.js", "/")
    for path in paths:
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers.get("etag") == get.headers.get("etag")
        assert head.headers["content-type"] == get.headers["content-type"]
    image = client.get("/approved").json()["items"][0]["thumbnail_url"]
    head = client.head(image)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(client.get(image).content)
    assert client.head("/approved", params={"politician": "nobody"}).status_code == 404
    assert client.head("/webhooks/nocodb").status_code == 405  # POST only, as for GET


def test_the_embed_script_is_javascript_cached_and_revalidated(client: TestClient) -> None:
    script = client.get("/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=300"
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "window.FacegateCarousel" in script.text and "deep-fake-carousel" in script.text
    again = client.get("/embed.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_cors_answers_the_listed_origins_only(settings: Settings) -> None:
    """No lifespan: /site and /embed.js need only the settings."""
    app = create_app(settings.model_copy(update={"cors_origins": [CAMPAIGN]}))
    client = TestClient(app)
    listed = client.get("/site", headers={"Origin": CAMPAIGN})
    assert listed.headers["access-control-allow-origin"] == CAMPAIGN
    assert "ETag" in listed.headers["access-control-expose-headers"]
    other = client.get("/site", headers={"Origin": "https://elsewhere.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/approved",
        headers={
            "Origin": CAMPAIGN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == CAMPAIGN
