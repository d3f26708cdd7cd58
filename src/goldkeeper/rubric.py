"""The dataset-level rubric (params.yaml ``rubric:``): what every eval prompt must carry, and the
thresholds a grounded answer run is judged against.

``verify`` enforces the prompt-contract part (minimum prompt count, unique ids, domain diversity,
required fields on every prompt row); ``eval grounded`` reads the thresholds and the refusal policy.
One definition, imported by both.

Example::

    rubric:
      grounded_precision: 0.95   # claims supported by their cited evidence / claims
      citation_coverage: 0.95    # claims with at least one valid citation / claims
      citation_freshness: 0.95   # cited evidence within the policy's maximum age / citations
      refusal_policy: cite-or-refuse
      min_prompts: 100
      min_domains: 5
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from .config import Section

if TYPE_CHECKING:
    from .config import Settings

#: Dotted paths that must be present and non-empty on every prompt row.
DEFAULT_REQUIRED_FIELDS = [
    "id",
    "text",
    "domain",
    "difficulty",
    "expected_behavior.behavior",
    "expected_behavior.grounding",
    "expected_behavior.refusal",
    "expected_behavior.must_not",
]
#: Extra paths required on rows that expect an answer (behavior == "answer").
DEFAULT_ANSWER_REQUIRED_FIELDS = ["expected_behavior.citation_fields"]


class RubricParams(Section):
    """params.yaml ``rubric:``; unknown keys are an error."""

    grounded_precision: float = Field(default=0.95, ge=0.0, le=1.0)
    citation_coverage: float = Field(default=0.95, ge=0.0, le=1.0)
    citation_freshness: float = Field(default=0.95, ge=0.0, le=1.0)
    #: cite-or-refuse: every answer cites its evidence (grounding required); without evidence, refuse.
    refusal_policy: Literal["cite-or-refuse"] = "cite-or-refuse"
    min_prompts: int = Field(default=1, ge=0)
    #: required number of distinct ``domain`` values among the prompts.
    min_domains: int = Field(default=1, ge=0)
    required_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_REQUIRED_FIELDS))
    answer_required_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_ANSWER_REQUIRED_FIELDS))


def rubric_params(settings: Settings) -> RubricParams:
    """The validated ``rubric:`` section of the settings (defaults where absent)."""
    return settings.section("rubric", RubricParams)


__all__ = ["RubricParams", "rubric_params", "DEFAULT_REQUIRED_FIELDS", "DEFAULT_ANSWER_REQUIRED_FIELDS"]
