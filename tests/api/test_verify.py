from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.faces.verdict import ExplicitGate
from app.politicians.profiles import read_politicians
from app.verification import FaceService
from harness.images import ROOT, encode, exif_rotated, open_sample, png_declaring, sample, side_by_side

# The shipped calibrations (reference_faces/<slug>/profile.toml).
TOLERANCES = {p.slug: p.profile.tolerance for p in read_politicians(ROOT / "reference_faces")}


def _verify(client: TestClient, data: bytes, politician: str | None = None, name: str = "upload.jpg") -> dict:  # type: ignore[type-arg]
    form = {"politician": politician} if politician is not None else {}
    response = client.post("/verify", files={"image": (name, data, "image/jpeg")}, data=form)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("photo", "claim", "decision", "reason"),
    [
        ("obama2.jpg", "obama", "approved", "match"),
        ("obama_partial_face2.jpg", "obama", "approved", "match"),
        ("biden.jpg", "biden", "approved", "match"),
        ("biden.jpg", "obama", "rejected", "no_match"),
        ("obama2.jpg", "biden", "rejected", "no_match"),
        ("astronaut.png", "obama", "rejected", "no_match"),
        ("cat.png", "obama", "rejected", "no_face"),
        ("rocket.jpg", "biden", "rejected", "no_face"),
    ],
)
def test_verdicts_on_real_photos(
    client: TestClient, photo: str, claim: str, decision: str, reason: str
) -> None:
    body = _verify(client, sample(photo), claim)
    assert (body["decision"], body["reason"], body["politician"]) == (decision, reason, claim)
    assert body["tolerance"] == TOLERANCES[claim]
    assert body["explicit"] == []  # the real nudity detector, default labels: no false positive


def test_response_shape(client: TestClient) -> None:
    body = _verify(client, sample("obama2.jpg"), "obama")
    assert set(body) == {"decision", "reason", "politician", "faces", "tolerance", "review_band", "explicit"}
    (face,) = body["faces"]
    assert set(face) == {"box", "distances", "best_match"}
    assert set(face["box"]) == {"top", "right", "bottom", "left"}
    assert set(face["distances"]) == {"obama", "biden"}
    assert face["distances"]["obama"] < 0.6 < face["distances"]["biden"]
    assert face["best_match"] == "obama"


def test_identification_without_a_claim(client: TestClient) -> None:
    body = _verify(client, sample("obama3.jpg"))
    assert (body["decision"], body["reason"], body["politician"]) == ("approved", "match", "obama")
    body = _verify(client, sample("astronaut.png"), "")
    assert (body["decision"], body["reason"], body["politician"]) == ("rejected", "no_match", None)


def test_exif_rotated_phone_photo_is_approved_with_displayed_boxes(client: TestClient) -> None:
    body = _verify(client, exif_rotated("obama2.jpg", 8), "obama")
    assert body["decision"] == "approved"
    box = body["faces"][0]["box"]
    assert box["bottom"] <= 1200 and box["right"] <= 626  # upright coordinates


def test_rgba_png_and_grayscale_jpeg(client: TestClient) -> None:
    assert _verify(client, sample("obama2_rgba.png"), "obama")["decision"] == "approved"
    gray = encode(open_sample("obama2.jpg").convert("L"), "JPEG")
    assert _verify(client, gray, "obama")["decision"] == "approved"


def test_two_faces(client: TestClient) -> None:
    body = _verify(client, side_by_side("obama2.jpg", "biden.jpg"), "obama")
    assert (body["decision"], body["reason"]) == ("rejected", "multiple_faces")
    assert len(body["faces"]) == 2


def test_truncated_jpeg_is_an_unreadable_image(client: TestClient) -> None:
    data = sample("obama.jpg")
    body = _verify(client, data[: len(data) // 2], "obama")
    assert (body["decision"], body["reason"], body["faces"]) == ("rejected", "unreadable_image", [])


def _error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


def test_not_an_image_is_415(client: TestClient) -> None:
    response = client.post("/verify", files={"image": ("x.jpg", b"<html></html>", "image/jpeg")})
    _error(response, 415, "unsupported_media_type")


def test_empty_file_is_422(client: TestClient) -> None:
    _error(client.post("/verify", files={"image": ("x.jpg", b"", "image/jpeg")}), 422, "invalid_request")


def test_missing_file_is_422(client: TestClient) -> None:
    _error(client.post("/verify", data={"politician": "obama"}), 422, "invalid_request")


def test_decompression_bomb_is_413(client: TestClient) -> None:
    response = client.post("/verify", files={"image": ("x.png", png_declaring(60000, 60000), "image/png")})
    _error(response, 413, "payload_too_large")


def test_too_many_bytes_is_413(client: TestClient) -> None:
    limit = client.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
    response = client.post("/verify", files={"image": ("x.jpg", b"\xff" * (limit + 1), "image/jpeg")})
    _error(response, 413, "payload_too_large")


def test_unknown_politician_is_404(client: TestClient) -> None:
    response = client.post(
        "/verify",
        files={"image": ("x.jpg", sample("obama2.jpg"), "image/jpeg")},
        data={"politician": "nobody"},
    )
    _error(response, 404, "unknown_politician")


def test_operator_key(client: TestClient) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    files = {"image": ("x.jpg", sample("obama2.jpg"), "image/jpeg")}
    settings.operator_api_key = type(settings).model_fields["operator_api_key"].annotation.__args__[0]("k3y")
    try:
        _error(client.post("/verify", files=files), 401, "unauthorized")
        _error(client.post("/verify", files=files, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert client.post("/verify", files=files, headers={"X-API-Key": "k3y"}).status_code == 200
    finally:
        settings.operator_api_key = None


def test_politicians_and_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "politicians": 2, "reference_photos": 3}
    politicians = {p["slug"]: p for p in client.get("/politicians").json()}
    assert set(politicians) == {"obama", "biden"}
    assert set(politicians["obama"]) == {"slug", "name", "role", "country", "description", "reference_photos"}
    assert politicians["obama"]["reference_photos"] == 2


def test_reload_rereads_the_folder(client: TestClient) -> None:
    response = client.post("/politicians/reload")
    assert response.status_code == 200
    assert {p["slug"] for p in response.json()} == {"obama", "biden"}


def test_reload_with_a_broken_folder_keeps_the_previous_set(client: TestClient) -> None:
    reference_dir = client.app.state.settings.reference_dir  # type: ignore[attr-defined]
    bad = reference_dir / "obama" / "zz-cat.png"
    bad.write_bytes(sample("cat.png"))
    try:
        response = client.post("/politicians/reload")
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == "reference_error" and "obama/zz-cat.png: no face found" in error["message"]
        assert client.get("/readyz").status_code == 200  # the previous set is still in use
        assert len(client.get("/politicians").json()) == 2
    finally:
        bad.unlink()
    assert client.post("/politicians/reload").status_code == 200


@pytest.mark.parametrize("photo", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_the_explicit_gate_blocks_with_the_real_model(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, photo: str
) -> None:
    # No explicit image is ever used: the blocking path is proven with labels NudeNet really
    # reports on portraits (its face labels), configured as if they were explicit.
    faces: FaceService = client.app.state.runtime.faces  # type: ignore[attr-defined]
    gate = ExplicitGate(labels=frozenset({"FACE_FEMALE", "FACE_MALE"}), min_score=0.5, review_score=0.3)
    monkeypatch.setattr(faces, "gate", gate)
    politician = photo.removesuffix(".jpg").rstrip("23")
    body = _verify(client, sample(photo), politician)
    assert (body["decision"], body["reason"], body["politician"]) == (
        "rejected",
        "explicit_content",
        politician,
    )
    (finding,) = body["explicit"]
    face, found = body["faces"][0]["box"], finding["box"]
    overlap = max(0, min(face["right"], found["right"]) - max(face["left"], found["left"])) * max(
        0, min(face["bottom"], found["bottom"]) - max(face["top"], found["top"])
    )
    assert finding["score"] >= 0.5 and overlap > 0  # where the face is, in displayed pixels


def test_an_uncertain_explicit_score_goes_to_review(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    faces: FaceService = client.app.state.runtime.faces  # type: ignore[attr-defined]
    # obama2.jpg: FACE_FEMALE at about 0.73.
    monkeypatch.setattr(
        faces, "gate", ExplicitGate(frozenset({"FACE_FEMALE"}), min_score=0.95, review_score=0.5)
    )
    body = _verify(client, sample("obama2.jpg"), "obama")
    assert (body["decision"], body["reason"]) == ("review", "explicit_content")
    assert [f["label"] for f in body["explicit"]] == ["FACE_FEMALE"]


@pytest.mark.parametrize("claim", ["Barack Obama", "  barack   OBAMA ", "OBAMA"])
def test_a_display_name_is_decided_against_its_slug(client: TestClient, claim: str) -> None:
    body = _verify(client, sample("obama2.jpg"), claim)
    assert (body["decision"], body["reason"], body["politician"]) == ("approved", "match", "obama")
    assert _verify(client, sample("obama2.jpg"), "Joe Biden")["reason"] == "no_match"


def test_a_name_nobody_has_is_an_unknown_politician(client: TestClient) -> None:
    response = client.post(
        "/verify",
        files={"image": ("a.jpg", sample("obama2.jpg"), "image/jpeg")},
        data={"politician": "Obama B."},
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_politician"
