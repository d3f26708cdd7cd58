"""Choose the extractive baseline's defaults on one half of the sample's articles, report them on the other.

The 12 articles of the bundled SQuAD 2.0 sample (the project's golden/), sorted by title, are split
in two: the tuning half (even positions: 0, 2, ..., 10) and the held-out half (odd positions). On the
tuning half only, every ``semantic_weight`` x ``refusal_threshold`` of the grid is scored by its
decision accuracy: a query expecting a refusal is refused, a query expecting an answer is answered
from an expected chunk. The best pair (ties: the smaller weight, then the smaller threshold) is then
scored with the real grounded eval (``score_answers``: judge, rubric, citations) on each half, next
to the defaults used before (``init``'s template 0.5 / 0.5, this project's params 0.7 / 0.67).

Retrieval (hybrid, ``top_k`` 5, the ``retrieval:`` params) and the sentence embeddings are computed once;
the grid only rescores the candidate sentences. Needs the golden store restored into the database
(``goldkeeper restore``; the embedded PostgreSQL unless GOLDKEEPER_DATABASE_URL is set).

    .venv/bin/python benchmarks/tune_extractive.py                 # print both halves
    .venv/bin/python benchmarks/tune_extractive.py --write-readme  # and rewrite benchmarks/README.md's block
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldkeeper.config import load_settings
from goldkeeper.embed import load_embedder
from goldkeeper.evals.answerers import AnswerSet, CachingEmbedder, ExtractiveAnswerer, database_retriever
from goldkeeper.evals.evidence import EvidenceIndex
from goldkeeper.evals.grounded.run import score_answers
from goldkeeper.evals.grounded.scoring import Rubric
from goldkeeper.evals.judges import make_judge
from goldkeeper.store import open_store
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(61)]
#: the defaults before this script chose one set: `init`'s template, and this project's params (tuned by hand)
PREVIOUS = (("previous init template", (0.5, 0.5)), ("previous project params", (0.7, 0.67)))
COLUMNS = ["faithfulness", "citation_accuracy", "relevance", "refusal_precision", "refusal_recall", "f1", "pass_rate"]


def halves(analyses: list[Any]) -> tuple[set[str], set[str]]:
    titles = sorted(a.title for a in analyses)
    return set(titles[0::2]), set(titles[1::2])


def top_candidates(answerer: ExtractiveAnswerer, queries: list[Any], hits: list[Any]) -> dict[str, tuple[float, Any]]:
    """Each query's best candidate sentence: (score, chunk id), or (-inf, None) without one."""
    out = {}
    for query, found in zip(queries, hits, strict=True):
        cands = answerer.evidence(query.text, found)
        out[query.id] = (cands[0][0], cands[0][2]) if cands else (float("-inf"), None)
    return out


def decision_accuracy(queries: list[Any], top: dict[str, tuple[float, Any]], threshold: float) -> float:
    right = 0
    for q in queries:
        score, chunk = top[q.id]
        answers = score >= threshold
        if q.expected_behavior.behavior == "refuse":
            right += not answers
        else:
            right += answers and chunk in {r.id for r in q.expected.chunks}
    return right / len(queries)


def tune(answerer: ExtractiveAnswerer, tuning: list[Any], hits: dict[str, Any]) -> tuple[float, float, float]:
    best = (-1.0, 0.0, 0.0)
    for weight in WEIGHTS:
        answerer.semantic_weight = weight
        top = top_candidates(answerer, tuning, [hits[q.id] for q in tuning])
        for threshold in THRESHOLDS:
            accuracy = decision_accuracy(tuning, top, threshold)
            if accuracy > best[0] + 1e-12:
                best = (accuracy, weight, threshold)
    return best


def evaluate(answerer: ExtractiveAnswerer, queries: list[Any], hits: dict[str, Any], ctx: dict[str, Any]) -> dict:
    answers = AnswerSet()
    retrieved_at = datetime.now(UTC)
    for q in queries:
        answers.responses[q.id] = answerer.respond(q, hits[q.id], retrieved_at)
    return score_answers(queries, answers, ctx["index"], embedder=ctx["embedder"], **ctx["scoring"]).metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", action="store_true", help="rewrite the results block in benchmarks/README.md")
    args = parser.parse_args()
    started = time.monotonic()
    settings = load_settings(ROOT)
    params = settings.grounded
    store = open_store(settings.store_path)
    analyses = list(store.analyses())
    index = EvidenceIndex.from_analyses(analyses)
    queries = sorted(store.queries(), key=lambda q: q.id)
    tune_titles, held_titles = halves(analyses)
    tuning = [q for q in queries if q.domain in tune_titles]
    held = [q for q in queries if q.domain in held_titles]
    embedder = CachingEmbedder(load_embedder(settings.embedding))
    answerer = ExtractiveAnswerer(
        database_retriever(settings, embedder), index, embedder=embedder, top_k=params.top_k, semantic_weight=1.0
    )
    found = answerer.retriever([q.text for q in queries], params.top_k)
    hits = {q.id: h for q, h in zip(queries, found, strict=True)}
    chunk_ids = sorted({h.chunk_id for f in found for h in f if h.chunk_id in index.chunks})
    answerer._embed([q.text for q in queries] + [s for c in chunk_ids for s, _ in answerer.sentences(c)])
    accuracy, weight, threshold = tune(answerer, tuning, hits)
    section = settings.rubric
    ctx = {
        "index": index,
        "embedder": embedder,
        "scoring": {
            "judge": make_judge(params.judge, params.judge_threshold),
            "rubric": Rubric(section.grounded_precision, section.citation_coverage, section.citation_freshness),
            "params": params,
        },
    }
    rows = []
    for label, (w, t) in (("chosen", (weight, threshold)), *PREVIOUS):
        answerer.semantic_weight, answerer.refusal_threshold = w, t
        for half, subset in (("tuning", tuning), ("held-out", held)):
            metrics = evaluate(answerer, subset, hits, ctx)
            rows.append((label, w, t, half, len(subset), metrics))
    markdown = render(rows, accuracy, tune_titles, held_titles)
    print(markdown)
    print(f"({time.monotonic() - started:.0f} s)")
    if args.write_readme:
        update_results("extractive-defaults", markdown)


def render(rows: list[tuple], accuracy: float, tune_titles: set[str], held_titles: set[str]) -> str:
    lines = [
        f"Tuning half ({len(tune_titles)} articles): {', '.join(sorted(tune_titles))}.  ",
        f"Held-out half ({len(held_titles)} articles): {', '.join(sorted(held_titles))}.  ",
        f"Grid: semantic_weight {WEIGHTS[0]}..{WEIGHTS[-1]} step 0.1 x refusal_threshold "
        f"{THRESHOLDS[0]}..{THRESHOLDS[-1]} step 0.01; best decision accuracy on the tuning half {accuracy:.4f}.",
        "",
        "| defaults | semantic_weight | refusal_threshold | half | queries | " + " | ".join(COLUMNS) + " |",
        "|---|---:|---:|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for label, w, t, half, n, metrics in rows:
        values = " | ".join(f"{metrics[c]:.4f}" for c in COLUMNS)
        lines.append(f"| {label} | {w:g} | {t:g} | {half} | {n:,} | {values} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
