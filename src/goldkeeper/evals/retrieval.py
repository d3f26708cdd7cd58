"""Retrieval eval: run every golden query against the restored database, score with trec_eval's measures.

Steps: read the queries and their expected chunks (``golden.query_expected``,
graded relevance) from the database; embed the questions in batches with the
configured model; search in each mode (:mod:`goldkeeper.db.search`); evaluate
the run against the qrels with :mod:`goldkeeper.evals.metrics` (trec_eval's
definitions, with ``complete=True``: a query the search returned nothing for
scores 0). Queries without any relevant chunk (those that expect a refusal)
are excluded from retrieval metrics and counted separately.

Outputs: a flat aggregate JSON (``<mode>.<measure>`` keys, for ``dvc metrics``; the cutoff measures
also under k-stable names, :data:`STABLE_NAMES`, so a policy survives ``-S retrieval.k=5``),
a per-query JSON list (for ``dvc plots`` and :mod:`goldkeeper.evals.compare`),
and the run (one per mode) and qrels in TREC format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goldkeeper.config import RETRIEVAL_MODES, RetrievalParams
from goldkeeper.config.sections import DatabaseParams
from goldkeeper.db.connection import connection
from goldkeeper.db.golden_privileges import RETRIEVAL_TABLES, refuse_unreadable
from goldkeeper.db.search import (
    GOLDEN_CHUNKS,
    Boosts,
    absent_chunks,
    apply_boosts,
    chunk_count,
    fulltext_chunks,
    fulltext_search,
    load_judgments,
    missing_fulltext_index,
    prepare,
    rrf_fuse,
    searched_chunks,
    text_search_config,
    vector_search,
)
from goldkeeper.db.state import read_dataset_state
from goldkeeper.errors import EvalError
from goldkeeper.evals.dataset_version import MeasuredVersion
from goldkeeper.evals.metrics import Report, evaluate
from goldkeeper.evals.trec import write_qrels, write_run
from goldkeeper.fileio import write_json
from goldkeeper.progress import SILENT, Progress

MODES: tuple[str, ...] = RETRIEVAL_MODES


def headline_measures(k: int) -> list[str]:
    """The measures kept in the outputs: P@k, recall@k, MRR, nDCG@k, MAP, R-precision, success@1, success@k."""
    return [f"P.{k}", f"recall.{k}", "recip_rank", f"ndcg_cut.{k}", "map", "Rprec", f"success.1,{k}"]


#: the cutoff measures also written under names without k (``hybrid.ndcg_at_k`` = ``hybrid.ndcg_cut_<k>``,
#: k itself is the ``k`` key): a policy or a plot that uses them survives a change of ``retrieval.k``.
#: The k-named keys stay, for baselines and policies recorded with them.
STABLE_NAMES: dict[str, str] = {
    "P_{k}": "P_at_k",
    "recall_{k}": "recall_at_k",
    "ndcg_cut_{k}": "ndcg_at_k",
    "success_{k}": "success_at_k",
    "pass_rate_{k}": "pass_rate_at_k",
}


def stable_labels(k: int) -> dict[str, str]:
    """``{"ndcg_cut_5": "ndcg_at_k", ...}`` for cutoff ``k``."""
    return {label.format(k=k): stable for label, stable in STABLE_NAMES.items()}


@dataclass
class ModeResult:
    mode: str
    report: Report
    run: dict[str, dict[str, float]]


@dataclass
class RetrievalResult:
    params: RetrievalParams
    k: int
    modes: list[ModeResult]
    qrels: dict[str, dict[str, int]]
    queries_total: int
    excluded_refusal: int
    excluded_no_relevant: int
    model_id: str
    chunks: int
    extra: dict[str, Any] = field(default_factory=dict)
    #: the dataset version measured (:mod:`goldkeeper.evals.dataset_version`); None: not known
    measured: MeasuredVersion | None = None
    #: the scored queries expecting a chunk the searched chunks do not hold: {query id: [chunk id]}
    missing_expected: dict[str, list[str]] = field(default_factory=dict)
    #: the scored queries whose full-text leg returned no chunk (None: no mode searched full text)
    fulltext_empty: list[str] | None = None
    #: the CREATE INDEX the full-text leg lacks under a configuration other than English (None: it has one, or
    #: reads a temporary table of the chunks' tsvectors and needs none)
    fulltext_index: str | None = None
    #: why the full-text leg could not compute the chunks' tsvectors once into a temporary table (None: it did,
    #: or needed none): it then parses each matching chunk again for every question
    fulltext_fallback: str | None = None

    @property
    def warnings(self) -> list[str]:
        found = self.measured.warnings() if self.measured is not None else []
        if self.missing_expected:
            shown = ", ".join(f"{qid} -> {ids[0]}" for qid, ids in list(self.missing_expected.items())[:5])
            found.append(
                f"{len(self.missing_expected)} scored quer{'y expects' if len(self.missing_expected) == 1 else 'ies expect'} "
                f"a chunk the database does not hold (no search can return it: a miss): {shown}"
                + (" ..." if len(self.missing_expected) > 5 else "")
            )
        if self.fulltext_empty:
            found.append(self._fulltext_empty_note(self.fulltext_empty))
        if self.fulltext_fallback:
            found.append(self._fulltext_fallback_note(self.fulltext_fallback))
        return found

    def _fulltext_fallback_note(self, reason: str) -> str:
        """One line: the chunks' tsvectors are parsed again for each question, and the index that would help."""
        note = (
            f"the full-text leg could not compute the chunks' tsvectors once into a temporary table, as {reason}: "
            "each question parses every matching chunk again (slow on large tables)"
        )
        if not self.fulltext_index:
            return note
        return (
            f"{note}, and golden.chunks has no full-text index for retrieval.fulltext_config "
            f"{self.params.fulltext_config!r}, so it parses every chunk; run `goldkeeper db init` once as the "
            "table's owner (restore and import build it too when their role owns it), or have the owner run: "
            f"{self.fulltext_index}"
        )

    def _fulltext_empty_note(self, empty: list[str]) -> str:
        """Hybrid falls back to the vector leg without a word when full text matches nothing: say how often."""
        modes = {m.mode for m in self.modes}
        effect = " and ".join(
            part
            for mode, part in (
                ("fulltext", "fulltext returns nothing for them"),
                ("hybrid", "hybrid is the vector leg alone"),
            )
            if mode in modes
        )
        return (
            f"{len(empty)} of {self.evaluated} scored queries matched no chunk in full text ({effect}; e.g. stop "
            f"words only, or CJK text, which retrieval.fulltext_config {self.params.fulltext_config!r} does not "
            "split into words): " + ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        )

    @property
    def evaluated(self) -> int:
        return len(self.qrels)

    def metrics(self) -> dict[str, Any]:
        """Flat, stable keys: ``<mode>.<measure>`` plus ``queries.*`` counts and ``k``."""
        out: dict[str, Any] = {
            "k": self.k,
            "queries.total": self.queries_total,
            "queries.evaluated": self.evaluated,
            "queries.excluded_refusal": self.excluded_refusal,
            "queries.excluded_no_relevant_chunk": self.excluded_no_relevant,
            **(self.measured.labels() if self.measured is not None else {}),
        }
        if self.fulltext_empty is not None:
            out["queries.fulltext_no_match"] = len(self.fulltext_empty)
        stable = stable_labels(self.k)
        for result in self.modes:
            for label, value in result.report.summary.items():
                out[f"{result.mode}.{label}"] = round(float(value), 6)
            out[f"{result.mode}.pass_rate_{self.k}"] = round(float(result.report.summary[f"success_{self.k}"]), 6)
            for label, name in stable.items():
                out[f"{result.mode}.{name}"] = out[f"{result.mode}.{label}"]
        return out

    def summary_table(self) -> str:
        """Markdown: one row per mode with P@k, recall@k, MRR, nDCG@k, MAP, pass rate@k."""
        k = self.k
        cols = [
            (f"P@{k}", f"P_{k}"),
            (f"recall@{k}", f"recall_{k}"),
            ("MRR", "recip_rank"),
            (f"nDCG@{k}", f"ndcg_cut_{k}"),
            ("MAP", "map"),
            (f"pass rate@{k}", f"success_{k}"),
        ]
        lines = ["| mode | " + " | ".join(c for c, _ in cols) + " |", "|---|" + "---:|" * len(cols)]
        for mode in self.modes:
            lines.append(f"| {mode.mode} | " + " | ".join(f"{mode.report.summary[key]:.4f}" for _, key in cols) + " |")
        return "\n".join(lines)

    def per_query_records(self) -> list[dict[str, Any]]:
        """One record per (mode, query): measure values, first relevant rank, top-k chunk ids."""
        records = []
        for result in self.modes:
            report = result.report
            for i, qid in enumerate(report.qids):
                ranked = sorted(
                    result.run.get(qid, {}).items(), key=lambda item: (float(item[1]), item[0]), reverse=True
                )
                ranked_ids = [cid for cid, _ in ranked]
                relevant = self.qrels[qid]
                first = next((r for r, cid in enumerate(ranked_ids, 1) if relevant.get(cid, 0) >= 1), None)
                record: dict[str, Any] = {"mode": result.mode, "query": qid}
                for label in report.per_query_labels:
                    record[label] = round(float(report.per_query[label][i]), 6)
                record["first_relevant_rank"] = first
                record["retrieved"] = ranked_ids[: self.k]
                records.append(record)
        return records


def _embed(embedder: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """The questions embedded as queries (``embedding.query_prefix``), as the production system searches."""
    parts = [
        np.asarray(embedder.embed_queries(list(texts[i : i + batch_size]))) for i in range(0, len(texts), batch_size)
    ]
    return np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def _chosen_modes(modes: Sequence[str] | None, params: RetrievalParams) -> list[str]:
    # a mode given twice (`--mode vector --mode vector`) is measured once: twice, its per-query records
    # repeated and `eval compare` refused the file
    chosen = list(dict.fromkeys(modes or params.modes))
    unknown = [m for m in chosen if m not in MODES]
    if unknown:
        raise EvalError(f"unknown retrieval mode {unknown[0]!r} (vector | fulltext | hybrid)")
    return chosen


def _check_database(queries: Sequence[Any], chunks: int, embedded: int, modes: Sequence[str]) -> None:
    """Refuse a database without queries or chunks, or without embeddings when a mode needs them."""
    if not queries:
        raise EvalError("no golden queries in the database (run `goldkeeper restore` first)")
    if chunks == 0:
        raise EvalError("no golden chunks in the database (run `goldkeeper restore` first)")
    if embedded < chunks and any(m in ("vector", "hybrid") for m in modes):
        raise EvalError(f"{chunks - embedded} of {chunks} chunks have no embedding (rerun `goldkeeper restore`)")


def _search_batch(
    conn: Any,
    embedder: Any,
    params: RetrievalParams,
    modes: Sequence[str],
    part: Sequence[tuple[str, str]],
    runs: dict[str, dict[str, dict[str, float]]],
    sources: tuple[Any, Any] = (GOLDEN_CHUNKS, GOLDEN_CHUNKS),
    fulltext_empty: list[str] | None = None,
) -> None:
    """Search one batch of (query id, text) in every mode, adding each query's boosted hits to ``runs`` and
    the ids of those whose full-text leg found nothing to ``fulltext_empty`` (from the search's own rows).
    ``sources``: what the vector leg and the full-text leg read (:func:`_fulltext_source`)."""
    chunks, text_chunks = sources
    boosts = Boosts(params.boosts.section_title, dict(params.boosts.content_type))
    texts = [text for _, text in part]
    vec_hits = text_hits = None
    if any(m in ("vector", "hybrid") for m in modes):
        embs = _embed(embedder, texts, params.query_batch_size)
        vec_hits = vector_search(
            conn,
            embs,
            texts,
            params.depth,
            ef_search=params.ef_search,
            ts_config=params.fulltext_config,
            tsquery=params.tsquery,
            use_index=params.vector_index == "hnsw",
            chunks=chunks,
        )
    if any(m in ("fulltext", "hybrid") for m in modes):
        text_hits = fulltext_search(
            conn,
            texts,
            params.depth,
            ts_config=params.fulltext_config,
            tsquery=params.tsquery,
            normalization=params.rank_normalization,
            chunks=text_chunks,
        )
        if fulltext_empty is not None:
            fulltext_empty.extend(qid for (qid, _), hits in zip(part, text_hits, strict=True) if not hits)
    for i, (qid, _) in enumerate(part):
        for mode in modes:
            if mode == "vector":
                hits = vec_hits[i]  # type: ignore[index]
            elif mode == "fulltext":
                hits = text_hits[i]  # type: ignore[index]
            else:
                hits = rrf_fuse([vec_hits[i], text_hits[i]], params.rrf_k)[: params.depth]  # type: ignore[index]
            runs[mode][qid] = {h.chunk_id: h.score for h in apply_boosts(hits, boosts)}


def _evaluate_mode(mode: str, qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], k: int) -> ModeResult:
    report = evaluate(qrels, run, headline_measures(k), complete=True, runid=f"goldkeeper-{mode}")
    return ModeResult(mode, report, run)


def _golden_reads(database: DatabaseParams | None) -> tuple[str, ...]:
    """The golden tables a retrieval eval reads: with params ``database:``, the mapped tables replace them."""
    if database is None:
        return RETRIEVAL_TABLES
    queries = () if "queries" in database.tables else ("golden.queries", "golden.query_expected")
    return ("golden.dataset_state", *queries)


def run_retrieval(
    url: str,
    embedder: Any,
    params: RetrievalParams,
    *,
    modes: Sequence[str] | None = None,
    k: int | None = None,
    progress: Progress = SILENT,
    store_version: str | None = None,
    database: DatabaseParams | None = None,
) -> RetrievalResult:
    """Search every answerable golden query in each mode and evaluate the runs; the metrics are labelled
    with the dataset version the database records (``store_version``: the working tree's, compared).
    ``database``: the chunks are the application's own rows (:func:`goldkeeper.db.search.mapped_chunks`)."""
    chosen = _chosen_modes(modes, params)
    k = k or params.k
    with connection(url) as conn:
        refuse_unreadable(conn, _golden_reads(database))
        measured = MeasuredVersion(read_dataset_state(conn), store_version)
        prepare(conn)
        source = searched_chunks(conn, database, params.fulltext_config, getattr(embedder, "dim", None))
        queries, qrels_all = load_judgments(conn, database)
        chunks, embedded = chunk_count(conn, source)
        _check_database(queries, chunks, embedded, chosen)
        # relevant: graded >= 1, as trec_eval counts it; a mapped table's jsonb may judge a chunk 0 (or below)
        answerable = [(qid, text) for qid, text, _ in queries if _has_relevant(qrels_all.get(qid))]
        excluded = [behavior for qid, _, behavior in queries if not _has_relevant(qrels_all.get(qid))]
        qrels = {qid: qrels_all[qid] for qid, _ in answerable}
        missing = _missing_expected(conn, qrels, source)
        text_source, fallback = _fulltext_source(conn, database, source, chosen)
        unindexed = _missing_index(conn, database, params, fallback)
        runs: dict[str, dict[str, dict[str, float]]] = {m: {} for m in chosen}
        empty: list[str] | None = [] if any(m in ("fulltext", "hybrid") for m in chosen) else None
        batch = params.query_batch_size
        with progress.task("searching", len(answerable)) as task:
            for start in range(0, len(answerable), batch):
                part = answerable[start : start + batch]
                _search_batch(conn, embedder, params, chosen, part, runs, (source, text_source), empty)
                task.advance(len(part))
    return RetrievalResult(
        params=params,
        k=k,
        modes=_evaluate_modes(chosen, qrels, runs, k, progress),
        qrels=qrels,
        queries_total=len(queries),
        excluded_refusal=sum(1 for behavior in excluded if behavior == "refuse"),
        excluded_no_relevant=sum(1 for behavior in excluded if behavior != "refuse"),
        model_id=getattr(embedder, "model_id", ""),
        chunks=chunks,
        measured=measured,
        missing_expected=missing,
        fulltext_empty=empty,
        fulltext_index=unindexed,
        fulltext_fallback=fallback,
    )


def _evaluate_modes(
    chosen: Sequence[str], qrels: dict[str, dict[str, int]], runs: dict[str, Any], k: int, progress: Progress
) -> list[ModeResult]:
    """Score each mode's run; a task of its own: seconds per mode for tens of thousands of queries."""
    scored = []
    with progress.task("scoring", len(chosen)) as task:
        for mode in chosen:
            scored.append(_evaluate_mode(mode, qrels, runs[mode], k))
            task.advance()
    return scored


def _fulltext_source(
    conn: Any, database: DatabaseParams | None, source: Any, chosen: list[str]
) -> tuple[Any, str | None]:
    """What the full-text leg reads (:func:`goldkeeper.db.search.fulltext_chunks`: the chunks' tsvectors computed
    once into a temporary table where they are an expression) and why not that table; untouched when no mode
    searches full text."""
    if not any(mode in ("fulltext", "hybrid") for mode in chosen):
        return source, None
    return fulltext_chunks(conn, database, source)


def _missing_index(
    conn: Any, database: DatabaseParams | None, params: RetrievalParams, fallback: str | None
) -> str | None:
    """The index golden.chunks lacks for the full-text leg under ``params.fulltext_config``, asked only when the
    leg reads the expression itself (``fallback``: no temporary table; with one the index is not read). A mapped
    table's full-text column or index is the application's own choice."""
    if database is not None or fallback is None:
        return None
    return missing_fulltext_index(conn, text_search_config(conn, params.fulltext_config))


def _has_relevant(judged: dict[str, int] | None) -> bool:
    return any(relevance >= 1 for relevance in (judged or {}).values())


def _missing_expected(conn: Any, qrels: dict[str, dict[str, int]], chunks: Any) -> dict[str, list[str]]:
    """{query id: its expected chunk ids that ``chunks`` does not hold}, for the queries with any (a restore
    refuses such expectations, but replacing the analyses later, or a mapped ``where``, can remove the chunk)."""
    absent = absent_chunks(conn, sorted({cid for judged in qrels.values() for cid in judged}), chunks)
    found = {qid: sorted(cid for cid in judged if cid in absent) for qid, judged in qrels.items()}
    return {qid: ids for qid, ids in sorted(found.items()) if ids}


def ndcg_percentiles(result: RetrievalResult, mode: ModeResult) -> list[dict[str, float]]:
    """nDCG@k of one mode's queries at each percentile 0..100 (sorted ascending): 101 points for any query count."""
    values = np.asarray(mode.report.per_query[f"ndcg_cut_{result.k}"], dtype=np.float64)
    if values.size == 0:
        return []
    levels = np.percentile(values, np.arange(101), method="inverted_cdf")
    return [{"percentile": int(p), "ndcg_at_k": round(float(v), 6)} for p, v in enumerate(levels)]


def write_outputs(
    result: RetrievalResult,
    out: Path,
    per_query: Path,
    trec_dir: Path,
    plots_dir: Path | None = None,
    *,
    progress: Progress = SILENT,
) -> dict[str, Path]:
    """Write the aggregate metrics, per-query records, TREC runs and qrels, and (with ``plots_dir``) one
    percentile curve per mode (:func:`ndcg_percentiles`, ``ndcg-<mode>.json``); returns the paths written.

    A task of its own, a step per file: the TREC runs hold ``depth`` lines per query and mode (millions
    for tens of thousands of queries), seconds each."""
    written: dict[str, Path] = {}
    with progress.task("writing the results", None) as task:
        if plots_dir is not None:
            written.update(_write_plots(result, plots_dir))
        write_json(out, result.metrics())
        written["metrics"] = out
        write_json(per_query, result.per_query_records())
        written["per_query"] = per_query
        task.advance()
        qrels_path = trec_dir / "retrieval.qrels"
        write_qrels(qrels_path, result.qrels)
        written["qrels"] = qrels_path
        for mode in result.modes:
            path = trec_dir / f"retrieval-{mode.mode}.run"
            write_run(path, mode.run, f"goldkeeper-{mode.mode}")
            written[f"run.{mode.mode}"] = path
            task.advance()
    return written


def _write_plots(result: RetrievalResult, plots_dir: Path) -> dict[str, Path]:
    """One nDCG percentile curve per mode measured; the curve of a mode this run left out is stale and removed
    (only the names goldkeeper writes)."""
    measured = {mode.mode for mode in result.modes}
    for stale in (plots_dir / f"ndcg-{name}.json" for name in MODES if name not in measured):
        stale.unlink(missing_ok=True)
    written = {}
    for mode in result.modes:
        path = plots_dir / f"ndcg-{mode.mode}.json"
        write_json(path, ndcg_percentiles(result, mode))
        written[f"plot.{mode.mode}"] = path
    return written


__all__ = ["MODES", "RetrievalParams", "RetrievalResult", "run_retrieval", "write_outputs"]
