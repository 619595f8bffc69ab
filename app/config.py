"""Settings, read once from the environment (prefix ``FACEGATE_``) and injected everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# dlib's own recommendation: "0.6 is typical best performance" for its ResNet descriptor.
DEFAULT_TOLERANCE = 0.6
MIB = 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class FieldNames:
    """The uploads table's column names, as configured (bootstrap creates them with these names)."""

    image: str = "Image"
    politician: str = "Politician"
    status: str = "Status"


class RejectAction(StrEnum):
    """What facegate does in NocoDB with a rejected row (``FACEGATE_ACTION``)."""

    DELETE = "delete"
    FLAG = "flag"
    DRY_RUN = "dry-run"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACEGATE_", env_file=".env", extra="ignore")

    # Faces and references.
    reference_dir: Path = PROJECT_ROOT / "reference_faces"
    data_dir: Path = PROJECT_ROOT / "data"
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0, le=2)
    # Detections scoring below this are HOG false positives (logos, patterns); real faces score >= 0.7.
    min_detection_score: float = Field(0.3, ge=-1, le=5)
    # Long side of the copy faces are detected on; faces are encoded from a larger copy.
    detect_max_side: int = Field(1024, ge=256, le=8192)
    encode_max_side: int = Field(2048, ge=256, le=16384)

    # Image intake.
    max_upload_bytes: int = Field(20 * MIB, ge=1024)
    max_image_pixels: int = Field(50_000_000, ge=10_000)
    # A row is one upload: more images than this is a rejection (``too_many_images``), not more work.
    max_images_per_row: int = Field(4, ge=1, le=100)

    # Processes that run dlib: dlib is not thread-safe, so parallelism is by process.
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    # Rows decided at once (downloads and NocoDB calls overlap the pixel work); unset: one per worker.
    queue_concurrency: int | None = Field(None, ge=1, le=256)

    # Access.
    operator_api_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = []
    verify_rate_per_minute: int = Field(60, ge=0)

    # NocoDB.
    nocodb_url: str | None = None
    nocodb_api_token: SecretStr | None = None
    nocodb_table_id: str | None = None
    nocodb_image_field: str = "Image"
    nocodb_politician_field: str = "Politician"
    nocodb_status_field: str = "Status"
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
    form_url: str | None = None

    # Operations.
    log_format: Literal["json", "text"] = "json"
    # Decisions and finished jobs older than this are deleted; live approvals stay for the carousel.
    retention_days: float = Field(30, gt=0)

    @field_validator("cors_origins", "attachment_allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]
        return value

    @field_validator("operator_api_key", "webhook_secret", "nocodb_api_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty secret verifies against an empty key, which anyone can forge.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            return None
        return value

    @property
    def reference_cache_dir(self) -> Path:
        return self.data_dir / "reference_cache"

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
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
