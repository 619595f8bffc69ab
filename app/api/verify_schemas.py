"""The body of ``POST /verify``'s answer: the rule's verdict (``app.faces.verdict``), as HTTP JSON.

The rule's plain dataclasses stay free of pydantic; these models are built from them at the route
(``Verdict.of``). Their names, fields and descriptions are the ``openapi.yaml`` components.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.faces import verdict as rule
from app.outcomes import Decision, Reason

__all__ = ["Box", "ExplicitFinding", "FaceResult", "Verdict"]


class Box(BaseModel):
    """A face's bounding box in pixels of the image as displayed (after EXIF orientation)."""

    top: int
    right: int
    bottom: int
    left: int


class ExplicitFinding(BaseModel):
    """A detection of the nudity detector with one of the configured labels."""

    label: str = Field(description="A NudeNet label, e.g. FEMALE_BREAST_EXPOSED.")
    score: float
    box: Box


# No docstrings on these two: a docstring would become the component's description in openapi.yaml.
class FaceResult(BaseModel):
    box: Box
    distances: dict[str, float] = Field(description="Smallest distance to each politician's references.")
    best_match: str | None = Field(description="The politician this face is within tolerance of, if any.")


class Verdict(BaseModel):
    decision: Decision
    reason: Reason
    politician: str | None = Field(description="The politician claimed, or identified when none was claimed.")
    faces: list[FaceResult]
    tolerance: float
    review_band: float = Field(
        0.0, description="Distances within this band of the tolerance go to a moderator (review)."
    )
    explicit: list[ExplicitFinding] = Field(
        default_factory=list,
        description="What the nudity detector found with a configured label, at review score or more.",
    )

    @classmethod
    def of(cls, verdict: rule.Verdict) -> Verdict:
        """The body of ``verdict``, field by field (the dataclasses' attributes, nested ones too)."""
        return cls.model_validate(verdict, from_attributes=True)
