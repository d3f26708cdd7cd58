"""Restore's side of verify: the store contracts decide what restore accepts.

``restore`` runs :func:`~goldkeeper.dataset.verify.verify_store` before it touches the database and
refuses (exit 5) when it reports an error, listing every violation as ``goldkeeper verify`` does.
Warnings never refuse. A user who must restore a store that breaks a *content* contract (a
placeholder URL, a prompt missing a field) names those codes explicitly; the structure contracts
(manifest, shards, ids, references, what PostgreSQL can store) can never be allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from goldkeeper.dataset.verify.report import Issue, VerifyReport
from goldkeeper.errors import UsageError, VerificationFailed

#: the error codes ``--allow-contract-violations`` may name: content contracts restore can still load
ALLOWABLE_CODES = frozenset(
    {
        "url.placeholder",
        "url.scheme",
        "url.invalid",
        "prompt.min_count",
        "prompt.domain_diversity",
        "prompt.required_field",
        "prompt.policy",
        "prompt.must_not",
    }
)


def allowed_codes(requested: Iterable[str]) -> frozenset[str]:
    """The codes ``requested`` names (``url.*`` stands for every allowable ``url.`` code).

    Raises :class:`UsageError` for a code that is not an allowable contract code.
    """
    allowed: set[str] = set()
    for item in requested:
        code = item.strip()
        if code.endswith(".*"):
            matched = {c for c in ALLOWABLE_CODES if c.startswith(code[:-1])}
        else:
            matched = {code} & ALLOWABLE_CODES
        if not matched:
            raise UsageError(
                f"--allow-contract-violations {code}: not a contract code that restore may allow "
                f"(allowed: {', '.join(sorted(ALLOWABLE_CODES))}, or url.* / prompt.*); "
                "structure checks (manifest.*, shard.*, record.*, ids, references) cannot be skipped"
            )
        allowed |= matched
    return frozenset(allowed)


def blocking_errors(report: VerifyReport, allow: Iterable[str] = ()) -> tuple[Issue, ...]:
    """The errors of ``report`` that refuse a restore (those not in ``allow``)."""
    allowed = frozenset(allow)
    return tuple(i for i in report.errors if i.code not in allowed)


#: an empty store is refused for its 0 prompts, most often right after an import (which fills the database, not
#: the store): the way on is a dump, not the override, which with --replace would empty the database
_EMPTY_STORE_HINT = (
    "the store holds no records: after `goldkeeper import ...` (which fills the database only), run "
    "`goldkeeper dump` to write the database's records into it; restoring it anyway with --replace removes them"
)


def _is_empty(report: VerifyReport) -> bool:
    """Whether the verified store holds neither analyses nor queries."""
    counts = dict(report.checked)
    return counts.get("analyses", 0) == 0 and counts.get("queries", 0) == 0 and "analyses" in counts


def refuse_violations(report: VerifyReport, allow: Iterable[str] = ()) -> None:
    """Raise :class:`VerificationFailed` (exit 5) listing every error of ``report`` not in ``allow``."""
    errors = blocking_errors(report, allow)
    if not errors:
        return
    lines = [
        f"restore refused, nothing was changed: {report.target} breaks {len(errors)} contract(s) "
        "(as `goldkeeper verify` lists them):",
        *(issue.render() for issue in errors),
    ]
    if _is_empty(report):
        lines.append(_EMPTY_STORE_HINT)
    if all(issue.code in ALLOWABLE_CODES for issue in errors):
        codes = " ".join(f"--allow-contract-violations {c}" for c in sorted({i.code for i in errors}))
        lines.append(f"to restore it anyway: {codes}")
    error = VerificationFailed("\n".join(lines), report=report)
    error.details["lines"] = tuple(lines)  # the CLI prints them one by one, each with its controls escaped
    raise error


__all__ = ["ALLOWABLE_CODES", "allowed_codes", "blocking_errors", "refuse_violations"]
