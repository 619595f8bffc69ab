from __future__ import annotations

from fastapi.testclient import TestClient

from harness.images import sample


def _value(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert lines, f"{prefix} not in metrics"
    return float(lines[0].rsplit(" ", 1)[1])


def test_metrics_count_verdicts_and_expose_the_queue(client: TestClient) -> None:
    before = client.get("/metrics").text
    label = 'facegate_verdicts_total{decision="rejected",reason="no_face",source="verify"}'
    count = _value(before, label) if label in before else 0.0
    client.post("/verify", files={"image": ("c.png", sample("cat.png"), "image/png")})
    after = client.get("/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    assert _value(after.text, label) == count + 1
    assert 'facegate_jobs{state="queued"}' in after.text
    assert "facegate_oldest_job_age_seconds" in after.text
    assert _value(after.text, "facegate_uploads_awaiting_review") >= 0
    assert "facegate_image_analysis_seconds_count" in after.text
    assert 'facegate_http_request_seconds_count{method="POST",route="/verify",status="200"}' in after.text


def test_latency_labels_use_route_templates_not_raw_paths(client: TestClient) -> None:
    client.get("/approved/123456/thumbnail")
    text = client.get("/metrics").text
    assert 'route="/approved/{approval_id}/{rendition}"' in text
    assert "123456" not in text
