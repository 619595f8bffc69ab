"""Response bodies of the HTTP API (the verdict itself is ``app.faces.verdict.Verdict``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PoliticianOut(BaseModel):
    slug: str
    name: str
    role: str = Field(description="Official role.")
    country: str
    description: str
    reference_photos: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    politicians: int
    reference_photos: int
