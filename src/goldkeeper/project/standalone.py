"""The operations of the application layer that need no :class:`~goldkeeper.project.Project`.

``eval trec`` and ``eval compare`` read only the files they are given, and the import commands'
argument and dry-run checks need no resources; they live here so that ``project/__init__.py`` holds
the Project alone. The heavy modules are imported inside each function for start-up (see the package's
docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldkeeper.errors import ConflictError, UsageError

if TYPE_CHECKING:
    from goldkeeper.dataset.restore import RestoreReport
    from goldkeeper.evals.compare import Comparison
    from goldkeeper.evals.metrics import Report as TrecReport


def json_schema(name: str) -> dict[str, Any]:
    """``schema NAME``: the JSON Schema of a goldkeeper format (see :mod:`goldkeeper.schemas`)."""
    from goldkeeper.schemas import json_schema as schema_of  # noqa: PLC0415 - start-up: pydantic.json_schema

    return schema_of(name)


def evaluate_trec(qrels: Path, run: Path, measures: Sequence[str] | None, *, complete: bool = False) -> TrecReport:
    """``eval trec``: a TREC run against its qrels, with trec_eval 10's definitions."""
    from goldkeeper.evals.trec import evaluate_files  # noqa: PLC0415 - start-up (module doc)

    return evaluate_files(qrels, run, measures, complete=complete)


def compare_per_query(a: Path, b: Path, **options: Any) -> Comparison:
    """``eval compare``: two per-query files, deltas and paired randomization p-values."""
    from goldkeeper.evals.compare import compare_files  # noqa: PLC0415 - start-up (module doc)

    return compare_files(a, b, **options)


def require_one_source(file: Path | None, sample: bool) -> None:
    """``import squad`` takes a FILE or ``--sample``, exactly one."""
    if (file is None) == (not sample):
        raise UsageError("give a SQuAD FILE or --sample (not both)")


def raise_for_conflicts(report: RestoreReport) -> None:
    """A dry run that found differing rows ends with exit 4 after its report was shown."""
    if report.conflicts:
        raise ConflictError(
            f"{report.conflicts} record(s) differ from the database (dry run; use --replace to overwrite)"
        )


__all__ = ["evaluate_trec", "compare_per_query", "require_one_source", "raise_for_conflicts"]
