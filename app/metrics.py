"""Prometheus metrics: what facegate decided, how long it took, and how NocoDB answered.

Counters and histograms live in one registry of facegate's own; the queue's gauges are read from
the stores at scrape time (``Runtime.metrics``), so they are never stale.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

VERDICTS = Counter(
    "facegate_verdicts_total",
    "Verdicts, by where the image came from, decision and reason.",
    ["source", "decision", "reason"],
    registry=REGISTRY,
)
ACTIONS = Counter(
    "facegate_nocodb_actions_total",
    "What was done to decided rows in NocoDB (approved, deleted, flagged, already_gone, ...).",
    ["action"],
    registry=REGISTRY,
)
STAMPS = Counter(
    "facegate_stamps_total",
    "Stamps read from rows facegate's log did not know: restored (facegate's earlier decision, logged"
    " again) or ignored (it did not verify: forged, copied from another row, or the picture changed).",
    ["result"],
    registry=REGISTRY,
)
NOCODB_ERRORS = Counter(
    "facegate_nocodb_errors_total",
    "Jobs that met a NocoDB error: unavailable (retried) or refused (job failed).",
    ["kind"],
    registry=REGISTRY,
)
PURGES = Counter(
    "facegate_purges_total",
    "Erasures of gone rows' files from NocoDB's storage, by the state each reached: pending (once, when"
    " it has to wait; retried, and by `facegate purge`), then done or refused (once, when it ends).",
    ["state"],
    registry=REGISTRY,
)
PURGED_BYTES = Counter(
    "facegate_purged_bytes_total",
    "Bytes of uploads and thumbnails erased from NocoDB's storage.",
    registry=REGISTRY,
)
ANALYSIS_SECONDS = Histogram(
    "facegate_image_analysis_seconds",
    "Decoding and face analysis of one image in a worker process.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60),
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "facegate_job_seconds",
    "One moderation job: download, analysis, verdict and action in NocoDB.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
REVIEWS_SETTLED = Counter(
    "facegate_reviews_settled_total",
    "Rows facegate sent to review that a moderator settled, by outcome: approved, rejected (counted"
    " when the Status is set: the row is deleted after the grace period), or taken_back (a rejection"
    " changed back within it).",
    ["outcome"],
    registry=REGISTRY,
)
REVIEW_WAIT_SECONDS = Histogram(
    "facegate_review_wait_seconds",
    "How long a row waited in review, from facegate's decision to a moderator's first Status.",
    buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400),
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "facegate_http_request_seconds",
    "HTTP requests, by route template, method and status code.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


def exposition(
    *,
    job_counts: Mapping[str, int],
    oldest_job_age: float | None,
    jobs_waiting_long: int,
    pending_purges: int,
    approved_uploads: int,
    awaiting_review: int = 0,
    held_rows: Mapping[str, int] | None = None,
) -> bytes:
    """The text format for one scrape: the registry, plus the queue and carousel as read now."""
    queue = CollectorRegistry(auto_describe=True)
    jobs = Gauge("facegate_jobs", "Jobs in the moderation queue, by state.", ["state"], registry=queue)
    for state, count in job_counts.items():
        jobs.labels(state=state).set(count)
    age = Gauge(
        "facegate_oldest_job_age_seconds",
        "Age of the oldest job not yet done (queued or running); 0 when there is none.",
        registry=queue,
    )
    age.set(oldest_job_age or 0.0)
    waiting = Gauge(
        "facegate_jobs_waiting_long",
        "Queued jobs that NocoDB or its storage failed many times in a row (an outage to look at).",
        registry=queue,
    )
    waiting.set(jobs_waiting_long)
    purges = Gauge(
        "facegate_purges_pending",
        "Erasures not done yet: storage not configured or unreachable (`facegate purge`).",
        registry=queue,
    )
    purges.set(pending_purges)
    review = Gauge(
        "facegate_uploads_awaiting_review",
        "Rows in review (Status=review) that no moderator has decided yet.",
        registry=queue,
    )
    review.set(awaiting_review)
    held = Gauge(
        "facegate_rows_held",
        "Rows held undecided and untouched, by reason: the backlog not confirmed, or a problem of the"
        " set-up to fix (a politician the form offers but reference_faces/ lacks, references not loaded,"
        " a column gone).",
        ["reason"],
        registry=queue,
    )
    for reason, count in (held_rows or {}).items():
        held.labels(reason=reason).set(count)
    approvals = Gauge("facegate_approved_uploads", "Approved uploads shown by the carousel.", registry=queue)
    approvals.set(approved_uploads)
    return generate_latest(REGISTRY) + generate_latest(queue)
