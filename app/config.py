"""Settings, read once from the environment (prefix ``FACEGATE_``) and injected everywhere."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.faces.engine import DEFAULT_LANDMARKS, Landmarks
from app.faces.explicit import DEFAULT_EXPLICIT_LABELS, DEFAULT_MIN_SCORE, check_labels
from app.faces.pool import DEFAULT_TIMEOUT as DEFAULT_ANALYSIS_TIMEOUT
from app.politicians.profiles import BAND_MAX, TOLERANCE_MAX, TOLERANCE_MIN

# dlib's own recommendation: "0.6 is typical best performance" for its ResNet descriptor.
DEFAULT_TOLERANCE = 0.6
DEFAULT_REVIEW_BAND = 0.04
# NudeNet reports from 0.25; 0.3 keeps its weakest guesses (a coffee cup at 0.296) out of review.
DEFAULT_EXPLICIT_REVIEW_SCORE = 0.3
MIB = 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Wrong operator keys, metrics tokens and webhook secrets a client address may send per minute.
DEFAULT_AUTH_FAILURES_PER_MINUTE = 10
WEB_SCHEMES = frozenset({"http", "https"})
# The SQLite file in DATA_DIR when no DATABASE_URL is set.
STORE_FILE = "facegate.db"
DATABASE_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
DEFAULT_STAMP_FIELD = "Facegate stamp"
DEFAULT_NOTE_FIELD = "Facegate"
# Stamps can be read by anyone who sees the table's grid: a short secret could be guessed offline.
MIN_STAMP_SECRET_CHARS = 16


@dataclass(frozen=True)
class FieldNames:
    """The uploads table's column names, as configured (bootstrap creates them with these names)."""

    image: str = "Image"
    politician: str = "Politician"
    status: str = "Status"
    # facegate's stamp beside each Status it writes (``app.moderation.stamps``), hidden in forms.
    stamp: str = DEFAULT_STAMP_FIELD
    # facegate's note for moderators, in plain words (``app.moderation.notes``), hidden in forms.
    note: str = DEFAULT_NOTE_FIELD
    # A Checkbox the uploader ticks to consent; None: the table asks for no consent.
    consent: str | None = None

    def columns(self) -> list[str]:
        """The columns moderation reads from a row (Id and CreatedAt besides)."""
        return [self.politician, self.image, self.status, *([self.consent] if self.consent else [])]


class RejectAction(StrEnum):
    """What facegate does in NocoDB with a rejected row (``FACEGATE_ACTION``)."""

    DELETE = "delete"
    FLAG = "flag"
    DRY_RUN = "dry-run"


class Settings(BaseSettings):
    # Errors name the setting but never echo its input: it may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="FACEGATE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    # Faces and references. Relative folders are taken from the current folder, as ``.env`` is.
    reference_dir: Path = Field(Path("reference_faces"), validate_default=True)
    data_dir: Path = Field(Path("data"), validate_default=True)
    # The bank of other people that calibration measures against (app.politicians.bank); unset:
    # ``<data_dir>/bank``. The image bakes it in at build time.
    bank_dir: Path | None = None
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=TOLERANCE_MIN, le=TOLERANCE_MAX)  # as a profile's
    # |distance - tolerance| <= band: a moderator decides (``review``). README: how it was chosen.
    review_band: float = Field(DEFAULT_REVIEW_BAND, ge=0, le=BAND_MAX)
    # Detections scoring below this are HOG false positives (logos, patterns); real faces score >= 0.7.
    min_detection_score: float = Field(0.3, ge=-1, le=5)
    # The landmark model that aligns a face before it is encoded: 68 points (whole face) or 5.
    landmarks: Landmarks = DEFAULT_LANDMARKS
    # Long side of the copy faces are detected on; faces are encoded from a larger copy.
    detect_max_side: int = Field(1024, ge=256, le=8192)
    encode_max_side: int = Field(2048, ge=256, le=16384)

    # The explicit-content gate (NudeNet's labels; empty: no gate). A label scoring ``min`` or more
    # rejects a picture; from ``review`` up to ``min`` a moderator decides.
    explicit_labels: Annotated[list[str], NoDecode] = list(DEFAULT_EXPLICIT_LABELS)
    explicit_min_score: float = Field(DEFAULT_MIN_SCORE, gt=0, le=1)
    explicit_review_score: float = Field(DEFAULT_EXPLICIT_REVIEW_SCORE, gt=0, le=1)

    # Image intake.
    max_upload_bytes: int = Field(20 * MIB, ge=1024)
    max_image_pixels: int = Field(50_000_000, ge=10_000)
    # A row is one upload: more images than this is a rejection (``too_many_images``), not more work.
    max_images_per_row: int = Field(4, ge=1, le=100)

    # Processes that run dlib: dlib is not thread-safe, so parallelism is by process.
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    # A picture that keeps its worker longer is stopped (the worker restarted); three times: rejected.
    analysis_timeout_seconds: float = Field(DEFAULT_ANALYSIS_TIMEOUT, gt=0, le=3600)
    # Rows decided at once (downloads and NocoDB calls overlap the pixel work); unset: one per worker.
    queue_concurrency: int | None = Field(None, ge=1, le=256)

    # Access. Without a key the operator endpoints refuse to serve, unless opened for local use.
    operator_api_key: SecretStr | None = None
    operator_endpoints_open: bool = False
    # /metrics: public (a network-restricted scraper), a bearer token of its own, or the operator key.
    metrics_public: bool = False
    metrics_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = []
    verify_rate_per_minute: int = Field(60, ge=0)
    auth_failures_per_minute: int = Field(DEFAULT_AUTH_FAILURES_PER_MINUTE, ge=1, le=1000)
    # Proxies whose X-Forwarded-For facegate believes; anyone else's is ignored (the client may write it).
    trusted_proxies: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = []

    # NocoDB.
    nocodb_url: str | None = None
    nocodb_api_token: SecretStr | None = None
    nocodb_table_id: str | None = None
    nocodb_image_field: str = "Image"
    nocodb_politician_field: str = "Politician"
    nocodb_status_field: str = "Status"
    nocodb_stamp_field: str = DEFAULT_STAMP_FIELD
    # facegate's note beside each Status it writes: why a row waits, with the numbers, for moderators.
    nocodb_note_field: str = DEFAULT_NOTE_FIELD
    # Signs the stamp written beside each Status, so that a lost database can be rebuilt from NocoDB
    # (README: "Backups and recovery"). Unset: no stamps, and a warning at start.
    stamp_secret: SecretStr | None = None
    # A Checkbox column: a row whose box is not ticked is rejected (``no_consent``) unseen. Unset: none.
    nocodb_consent_field: str | None = None
    # Rows created at or before this instant were in the table when bootstrap attached facegate to it:
    # the backlog, held until the operator confirms it (``facegate backlog --apply``). Unset: none.
    backlog_before: datetime | None = None
    # Absolute attachment URLs are fetched only from NocoDB's own origin or these (S3 buckets).
    attachment_allowed_origins: Annotated[list[str], NoDecode] = []
    action: RejectAction = RejectAction.DELETE
    # NocoDB's local upload folder (``<NC_TOOL_DIR>/nc/uploads``; its ``thumbnails`` sibling too): the
    # files of deleted uploads are erased there. Unset: they stay, and each purge waits as pending.
    nocodb_uploads_dir: Path | None = None
    # NocoDB's S3-compatible bucket (its NC_S3_* settings), where the objects of deleted uploads are
    # erased. No bucket: they stay, and each purge waits as pending. No endpoint: AWS. No keys:
    # boto3's own chain (environment, instance role).
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_force_path_style: bool = False
    sweep_interval_seconds: float = Field(300, ge=0)  # 0 disables the periodic sweep
    # A moderator's ``rejected`` waits this long before the row is deleted: the Status can be changed
    # back meanwhile (a misclick). 0: deleted at once. facegate's own rejections never wait.
    moderator_grace_seconds: float = Field(600, ge=0, le=30 * 86400)
    # facegate's address as moderators' browsers reach it: the note's link to the reference page
    # (``/review/{token}``). Unset: the note has no link.
    public_url: str | None = None
    # How long a reference page link stays valid; the links of rows still waiting are renewed.
    review_link_seconds: float = Field(86400, ge=60, le=30 * 86400)
    form_url: str | None = None

    # Durable state. Unset: a SQLite file in DATA_DIR, for one process. ``postgresql://user:pass@host/db``:
    # a database several instances share (README: "Several instances on PostgreSQL").
    database_url: SecretStr | None = None
    # A running job is its instance's this long without renewal (every third of it); an instance
    # that dies hands its jobs to the others after at most this.
    job_lease_seconds: float = Field(60, ge=2, le=3600)

    # Operations.
    log_format: Literal["json", "text"] = "json"
    # Decisions and finished jobs older than this are deleted; live approvals stay for the carousel.
    retention_days: float = Field(30, gt=0)

    @field_validator("nocodb_consent_field", "backlog_before", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("backlog_before")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # NocoDB's CreatedAt is UTC; a time written without a zone is taken as UTC too.
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("reference_dir", "data_dir", "nocodb_uploads_dir")
    @classmethod
    def _from_current_folder(cls, value: Path | None) -> Path | None:
        # Resolved once, at load: every later use (and every message) names the same folder.
        return None if value is None else Path.cwd() / value.expanduser()

    @field_validator("landmarks", mode="before")
    @classmethod
    def _landmarks_number(cls, value: object) -> object:
        # The environment gives "68"; the choice is a number.
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("cors_origins", "attachment_allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]
        return value

    @field_validator("explicit_labels", mode="before")
    @classmethod
    def _label_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("explicit_labels")
    @classmethod
    def _known_labels(cls, value: list[str]) -> list[str]:
        return list(check_labels(value))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        networks = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(
                    f"FACEGATE_TRUSTED_PROXIES: {text[:60]!r} is not an IP address or network (CIDR)"
                ) from None
        return networks

    @field_validator("form_url", "nocodb_url", "s3_endpoint_url", "public_url")
    @classmethod
    def _web_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The form URL becomes a link on the public page: a javascript: or data: URL would run there.
        if value is None or not value.strip():
            return None
        return _checked_url(value.strip(), setting=str(info.field_name), origin_only=False)

    @field_validator("cors_origins", "attachment_allowed_origins")
    @classmethod
    def _web_origins(cls, value: list[str], info: ValidationInfo) -> list[str]:
        setting = str(info.field_name)
        return [_checked_url(origin, setting=setting, origin_only=True).rstrip("/") for origin in value]

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in DATABASE_SCHEMES:
            raise ValueError("DATABASE_URL must be a postgresql:// URL (unset: SQLite in DATA_DIR)")
        return value

    @field_validator(
        "operator_api_key",
        "metrics_token",
        "webhook_secret",
        "nocodb_api_token",
        "database_url",
        "stamp_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty secret verifies against an empty key, which anyone can forge.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            return None
        return value

    @field_validator("stamp_secret")
    @classmethod
    def _long_stamp_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_STAMP_SECRET_CHARS:
            raise ValueError(f"STAMP_SECRET must have at least {MIN_STAMP_SECRET_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _explicit_scores_ordered(self) -> Settings:
        if self.explicit_review_score > self.explicit_min_score:
            raise ValueError("EXPLICIT_REVIEW_SCORE must not be above EXPLICIT_MIN_SCORE")
        return self

    @model_validator(mode="after")
    def _access_is_unambiguous(self) -> Settings:
        if self.operator_api_key is not None and self.operator_endpoints_open:
            raise ValueError(
                "FACEGATE_OPERATOR_ENDPOINTS_OPEN=true with FACEGATE_OPERATOR_API_KEY set: choose one"
            )
        if self.metrics_token is not None and self.metrics_public:
            raise ValueError("FACEGATE_METRICS_PUBLIC=true with FACEGATE_METRICS_TOKEN set: choose one")
        return self

    @property
    def database(self) -> str | Path:
        """Where the durable state lives: the PostgreSQL URL, or the SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.data_dir / STORE_FILE

    @property
    def reference_cache_dir(self) -> Path:
        return self.data_dir / "reference_cache"

    @property
    def bank_folder(self) -> Path:
        return self.bank_dir or self.data_dir / "bank"

    @property
    def concurrency(self) -> int:
        """Rows the queue runner decides at once."""
        return self.queue_concurrency or self.workers

    @property
    def fields(self) -> FieldNames:
        return FieldNames(
            image=self.nocodb_image_field,
            politician=self.nocodb_politician_field,
            status=self.nocodb_status_field,
            stamp=self.nocodb_stamp_field,
            note=self.nocodb_note_field,
            consent=self.nocodb_consent_field,
        )


def _checked_url(value: str, *, setting: str, origin_only: bool) -> str:
    """``value`` if it is an absolute http(s) URL (with ``origin_only``: an origin), else ``ValueError``.

    The messages do not repeat the value: it may hold credentials.
    """
    name = f"FACEGATE_{setting.upper()}"
    if not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError(f"{name} contains spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ValueError(f"{name} is not a URL") from None
    if parts.scheme.lower() not in WEB_SCHEMES:
        scheme = f"{parts.scheme[:20]}:" if parts.scheme else "a relative URL"
        raise ValueError(f"{name}: {scheme} is not allowed; use an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{name} has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{name} must not contain a user name or password")
    if origin_only and (parts.path not in {"", "/"} or parts.query or parts.fragment):
        raise ValueError(f"{name} must list origins (scheme://host[:port]) without a path")
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
