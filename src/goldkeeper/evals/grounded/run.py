"""One ``eval grounded`` run: answer the golden queries, score every case, aggregate, write the outputs.

:func:`run_grounded` reads the queries and the evidence from the golden
store, builds the answerer (:mod:`goldkeeper.evals.answerers`) and scores its
answers with :func:`score_answers`, the library entry point for scoring an
:class:`~goldkeeper.evals.answerers.AnswerSet` already in hand. Dependencies
point one way: this module -> answerers -> evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldkeeper.config import GroundedParams, Settings
from goldkeeper.db.state import DatasetState, dataset_state
from goldkeeper.embed import load_embedder
from goldkeeper.errors import ConfigError, DatabaseError, EvalError, UsageError
from goldkeeper.evals.answerers import AnswerSet, CachingEmbedder, make_answerer
from goldkeeper.evals.dataset_version import MeasuredVersion
from goldkeeper.evals.evidence import EvidenceIndex
from goldkeeper.evals.grounded.aggregation import aggregate
from goldkeeper.evals.grounded.batching import prejudge
from goldkeeper.evals.grounded.scoring import CaseResult, Rubric, score_case, score_failure
from goldkeeper.evals.judges import Judge, make_judge
from goldkeeper.fileio import write_json
from goldkeeper.models import Query
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import open_store


@dataclass
class GroundedReport:
    """The result of ``eval grounded``: flat metrics for DVC, the cases, and run notes."""

    answerer: str
    dataset_version: str
    as_of: datetime
    metrics: dict[str, Any]
    cases: list[CaseResult]
    stray: list[str]
    warnings: list[str]

    def per_case_json(self) -> dict[str, Any]:
        return {
            "answerer": self.answerer,
            "dataset_version": self.dataset_version,
            "as_of": self.as_of.isoformat(),
            "metrics": self.metrics,
            "unmatched_responses": self.stray,
            "warnings": self.warnings,
            "cases": [c.to_json() for c in self.cases],
        }

    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]


def resolve_as_of(params: GroundedParams) -> datetime:
    return params.as_of if params.as_of is not None else datetime.now(UTC)


def _relevance(answered: Sequence[Query], answers: AnswerSet, embedder: Any | None) -> dict[str, float]:
    """Cosine of prompt and answer embeddings per answered query (two batched calls; none without an embedder).

    The prompt is embedded as a query and the answer as a document: whether an answer responds to a question is
    the relation the instruction prefixes were trained for (``embedding.query_prefix`` / ``document_prefix``),
    and the prompt's vector is then the one the retriever searched with (embedded once)."""
    relevance: dict[str, float] = {}
    if answered and embedder is not None:
        prompts = embedder.embed_queries([q.text for q in answered])
        replies = embedder.embed_documents([answers.responses[q.id].answer or " " for q in answered])
        for q, a, b in zip(answered, prompts, replies, strict=True):
            relevance[q.id] = float((a * b).sum())
    return relevance


def _run_warnings(metrics: dict[str, Any], params: GroundedParams, *, unscored_relevance: bool) -> list[str]:
    warnings = []
    if metrics["aging_pressure_cases"]:
        warnings.append(
            f"aging pressure: {metrics['aging_pressure_cases']} case(s) cite evidence at >= "
            f"{params.aging_warn_ratio:.0%} of the maximum age ({params.max_evidence_age_days:.0f} days); "
            f"oldest ratio {metrics['oldest_evidence_age_ratio']:.2f}"
        )
    if unscored_relevance:
        warnings.append("no embedder: relevance scored 0")
    return warnings


def _future_evidence_warning(index: EvidenceIndex, as_of: datetime) -> list[str]:
    """A warning when analyses are dated after ``as_of``: params.yaml pins it (init writes a fixed date, so that
    reruns agree), and evidence newer than it is counted fresh at a negative age, so freshness never ages it."""
    newer = [doc.created_at for doc in index.analyses.values() if doc.created_at > as_of]
    if not newer:
        return []
    return [
        f"{len(newer)} of {len(index.analyses)} analyses are dated after grounded.as_of {_rfc3339(as_of)} "
        f"(the newest: {_rfc3339(max(newer))}): citations of them count as fresh at a negative age; set "
        "grounded.as_of in params.yaml (or --as-of) to a time after your newest analysis"
    ]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def score_answers(
    queries: Sequence[Query],
    answers: AnswerSet,
    index: EvidenceIndex,
    *,
    judge: Judge,
    rubric: Rubric,
    params: GroundedParams,
    embedder: Any | None,
    answerer_name: str = "",
    dataset_version: str = "",
    progress: Progress = SILENT,
) -> GroundedReport:
    """Score an :class:`~goldkeeper.evals.answerers.AnswerSet` against the queries (the library entry point for scoring).

    Every (claim, evidence) pair of the run goes to the judge in one ``judge_many`` call (:mod:`.batching`).
    The metrics carry the run's identity as labels: ``answerer`` and ``judge`` (name, model, threshold).
    """
    as_of = resolve_as_of(params)
    answered = [q for q in queries if (r := answers.responses.get(q.id)) is not None and not r.refused]
    relevance = _relevance(answered, answers, embedder)

    def score_all(with_judge: Judge) -> list[CaseResult]:
        return _score_cases(queries, answers, index, with_judge, rubric, params, as_of, relevance)

    cases = score_all(prejudge(judge, score_all, progress))
    metrics = aggregate(cases, aging_warn_ratio=params.aging_warn_ratio, rubric=rubric)
    warnings = _run_warnings(metrics, params, unscored_relevance=embedder is None and bool(answered))
    warnings += _future_evidence_warning(index, as_of)
    metrics["answerer"] = answerer_name
    metrics["judge"] = judge.identity
    return GroundedReport(answerer_name, dataset_version, as_of, metrics, cases, list(answers.stray), warnings)


def _score_cases(
    queries: Sequence[Query],
    answers: AnswerSet,
    index: EvidenceIndex,
    judge: Judge,
    rubric: Rubric,
    params: GroundedParams,
    as_of: datetime,
    relevance: dict[str, float],
) -> list[CaseResult]:
    cases: list[CaseResult] = []
    for query in queries:
        response = answers.responses.get(query.id)
        if response is not None:
            cases.append(
                score_case(
                    query,
                    response,
                    index,
                    judge,
                    rubric,
                    as_of=as_of,
                    max_age_days=params.max_evidence_age_days,
                    relevance=relevance.get(query.id, 0.0),
                )
            )
        elif query.id in answers.failures:
            outcome, reason = answers.failures[query.id]
            cases.append(score_failure(query, outcome, reason))
        else:
            cases.append(score_failure(query, "missing", "missing response: the answerer returned none for this query"))
    return cases


def _judge(settings: Settings) -> Judge:
    """The configured judge; an unknown name, a bad threshold or an unloadable model is a configuration error."""
    params = settings.grounded
    try:
        return make_judge(
            params.judge,
            params.judge_threshold,
            model_path=settings.resolve(params.judge_model_path) if params.judge_model_path else None,
            cwd=settings.root,
            batch_size=params.judge_batch_size,
            timeout_s=params.judge_timeout_s,
        )
    except ValueError as exc:
        raise ConfigError(f"params: grounded.judge: {exc}", key="grounded.judge") from exc


def run_grounded(
    settings: Settings,
    *,
    answerer: str | None = None,
    limit: int | None = None,
    progress: Progress = SILENT,
    embedder: Any | None = None,
    store_path: Path | None = None,
    database_url: str | None = None,
) -> GroundedReport:
    """Answer every query of the golden store with ``answerer`` and score the responses.

    Queries and evidence come from the golden store (``store_path``, default
    ``store.path``); the extractive answerer retrieves from the database
    (``database_url``, default the configured one or the embedded server).
    ``limit`` keeps the first N queries by id (for quick runs).
    """
    params = settings.grounded
    section = settings.rubric
    rubric = Rubric(section.grounded_precision, section.citation_coverage, section.citation_freshness)
    judge = _judge(settings)
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    store = open_store(store_path if store_path is not None else settings.store_path)
    with progress.task("reading the store", None):  # every shard parsed and validated: seconds for a large store
        index = EvidenceIndex.from_analyses(store.analyses())
        queries = sorted(store.queries(), key=lambda q: q.id)[:limit]
    if not queries:
        raise EvalError(f"{settings.store_path}: the golden store has no queries to evaluate")
    spec = answerer or params.answerer
    # prompts are embedded once, for the answerer and for relevance
    embedder = CachingEmbedder(
        embedder if embedder is not None else load_embedder(settings.embedding, root=settings.root)
    )
    impl = make_answerer(
        spec,
        settings=settings,
        params=params,
        index=index,
        embedder=embedder,
        progress=progress,
        given=answerer is not None,  # typed on the command line: relative to the user's cwd
    )
    answers = impl.answer(queries, progress=progress)
    report = score_answers(
        queries,
        answers,
        index,
        judge=judge,
        rubric=rubric,
        params=params,
        embedder=embedder,
        answerer_name=spec,
        dataset_version=store.version,
        progress=progress,
    )
    return _label_version(report, MeasuredVersion(_database_state(database_url), store.version))


def _database_state(url: str | None) -> DatasetState | None:
    """What the database records it holds; None without one (a responses file needs no database)."""
    try:
        return dataset_state(url) if url else None
    except DatabaseError:
        return None


def _label_version(report: GroundedReport, measured: MeasuredVersion) -> GroundedReport:
    """The dataset version the database records, as the report's and its metrics' label (with a warning
    when the working tree's store is another version: :mod:`goldkeeper.evals.dataset_version`)."""
    report.metrics.update(measured.labels())
    report.warnings.extend(measured.warnings())
    report.dataset_version = measured.version or report.dataset_version
    return report


def check_outputs(settings: Settings, answerer: str | None, outputs: Sequence[Path]) -> None:
    """Refuse an output path that is the responses file being evaluated (the user's answers, maybe costly to remake),
    and one path named for two outputs (the second would replace the first)."""
    resolved = [path.resolve() for path in outputs]
    for index, path in enumerate(resolved):
        if path in resolved[:index]:
            raise UsageError(
                f"{outputs[index]}: named for both the metrics and the per-case results; give each its own file"
            )
    kind, _, arg = (answerer or settings.grounded.answerer).partition(":")
    if kind != "responses" or not arg.strip():
        return
    source = settings.given(arg) if answerer else settings.resolve(arg)  # as make_answerer reads it
    for path in outputs:
        if path.resolve() == source.resolve() or (path.exists() and source.exists() and path.samefile(source)):
            raise UsageError(f"{path}: is the responses file being evaluated; write the results elsewhere")


def write_outputs(report: GroundedReport, out: Path, per_case: Path) -> None:
    """Write the flat metrics (``out``) and the per-case results (``per_case``), each atomically."""
    write_json(out, report.metrics)
    write_json(per_case, report.per_case_json())


def summary_line(report: GroundedReport) -> str:
    """One line for people: the headline scores of the run."""
    m = report.metrics
    return (
        f"{m['cases']} queries with {report.answerer}: faithfulness {m['faithfulness']:.3f}, "
        f"citation coverage {m['citation_coverage']:.3f}, accuracy {m['citation_accuracy']:.3f}, "
        f"freshness {m['citation_freshness']:.3f}, refusal P/R {m['refusal_precision']:.3f}/{m['refusal_recall']:.3f}, "
        f"F1 {m['f1']:.3f}, pass rate {m['pass_rate']:.3f}"
    )


__all__ = ["GroundedReport", "resolve_as_of", "score_answers", "run_grounded", "write_outputs", "summary_line"]
