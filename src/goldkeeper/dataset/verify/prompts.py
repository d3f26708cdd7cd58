"""The prompt contract (issue 5): every query is an eval prompt, and the rubric says what one needs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from goldkeeper.config import RubricParams
from goldkeeper.dataset.verify.report import IssueList
from goldkeeper.models import MUST_NOT_RULES, Query


def _dotted(raw: Any, path: str) -> tuple[bool, Any]:
    """``(present, value)`` of the dotted ``path`` in a raw JSON record."""
    value = raw
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, list | dict) and not value)
    )


def check_prompt_fields(raw: dict[str, Any], query: Query, rubric: RubricParams, name: str, issues: IssueList) -> None:
    """Required fields (rubric.required_fields, + answer_required_fields on answer rows) present and non-empty."""
    paths = [(path, "required_fields") for path in rubric.required_fields]
    if query.expected_behavior.behavior == "answer":
        paths += [(path, "answer_required_fields") for path in rubric.answer_required_fields]
    for path, param in paths:
        present, value = _dotted(raw, path)
        if not present or _empty(value):
            state = "empty" if present else "missing"
            message = f"required prompt field {path} is {state}{_what_to_do(path, param)}"
            issues.error("prompt.required_field", message, name, query.id, path)


def _what_to_do(path: str, param: str) -> str:
    """Where the requirement comes from, so a first verify of one's own records says how to satisfy it."""
    values = f"give one or more of {', '.join(MUST_NOT_RULES)}, " if path == "expected_behavior.must_not" else ""
    return f" ({values}or leave it out of params rubric.{param})"


def check_prompt_policy(query: Query, rubric: RubricParams, name: str, issues: IssueList) -> None:
    """cite-or-refuse: a prompt that expects an answer requires grounded, cited claims; every must_not is checked.

    A ``must_not`` rule that ``eval grounded`` does not check (``MUST_NOT_RULES``) is an error, not a silent
    pass: a rule nobody checks would read as a guarantee.
    """
    for position, rule in enumerate(query.expected_behavior.must_not):
        if rule not in MUST_NOT_RULES:
            issues.error(
                "prompt.must_not",
                f"unknown must_not rule {rule!r}: eval grounded checks only {', '.join(MUST_NOT_RULES)}",
                name,
                query.id,
                f"expected_behavior.must_not[{position}]",
            )
    if rubric.refusal_policy == "cite-or-refuse" and query.expected_behavior.behavior == "answer":
        if query.expected_behavior.grounding != "required":
            issues.error(
                "prompt.policy",
                "refusal policy cite-or-refuse: a prompt that expects an answer must require grounding",
                name,
                query.id,
                "expected_behavior.grounding",
            )


def check_prompt_count(valid_prompts: int, rubric: RubricParams, name: str, issues: IssueList) -> None:
    """At least rubric.min_prompts valid prompts."""
    if valid_prompts < rubric.min_prompts:
        issues.error(
            "prompt.min_count", f"{valid_prompts} prompt(s), the rubric requires at least {rubric.min_prompts}", name
        )


def check_domain_diversity(domains: Counter[str], rubric: RubricParams, name: str, issues: IssueList) -> None:
    """At least rubric.min_domains distinct domains among the prompts."""
    if len(domains) < rubric.min_domains:
        found = ", ".join(sorted(domains)[:10]) or "none"
        issues.error(
            "prompt.domain_diversity",
            f"{len(domains)} distinct domain(s) ({found}), the rubric requires at least {rubric.min_domains}",
            name,
            field="domain",
        )


__all__ = ["check_prompt_fields", "check_prompt_policy", "check_prompt_count", "check_domain_diversity"]
