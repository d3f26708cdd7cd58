"""Helpers for the quality tests: realistic eval metrics files, the default policy, a tiny golden store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.quality.baseline import RunIdentity
from goldkeeper.quality.policy import parse_policy
from goldkeeper.store import write_store

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = REPO_ROOT / "config" / "regression-policy.json"

#: the shape `eval retrieval` writes: <mode>.<trec_eval measure> floats, plus integer counts
RETRIEVAL = {
    "k": 10,
    "queries.total": 4449,
    "queries.evaluated": 2107,
    "fulltext.ndcg_cut_10": 0.646889,
    "hybrid.P_10": 0.09682,
    "hybrid.ndcg_cut_10": 0.815045,
    "hybrid.pass_rate_10": 0.968201,
    "hybrid.recall_10": 0.968201,
    "hybrid.recip_rank": 0.767132,
    "vector.ndcg_cut_10": 0.811352,
    # the same cutoff measures under their k-stable names, as `eval retrieval` writes them
    "fulltext.ndcg_at_k": 0.646889,
    "hybrid.P_at_k": 0.09682,
    "hybrid.ndcg_at_k": 0.815045,
    "hybrid.pass_rate_at_k": 0.968201,
    "hybrid.recall_at_k": 0.968201,
    "vector.ndcg_at_k": 0.811352,
}
#: the shape `eval grounded` writes: floats are metrics, integers are counts.
GROUNDED = {
    "answered": 2107,
    "cases": 4449,
    "citation_accuracy": 0.9512,
    "citation_coverage": 0.8874,
    "citation_freshness": 0.9021,
    "claims": 2107,
    "faithfulness": 0.9134,
    "oldest_evidence_age_ratio": 0.41,
    "pass_rate": 0.8311,
    "relevance": 0.7702,
    "rubric_met": 1,
}


#: params.yaml of a test project gating GROUNDED: the rubric's thresholds are dataset-level gate checks, and
#: GROUNDED's coverage (0.8874) is below the 0.95 default, so these projects set their own floors
RUBRIC_FLOORS = "rubric:\n  grounded_precision: 0.85\n  citation_coverage: 0.85\n  citation_freshness: 0.85\n"


def write_rubric_floors(root: Path) -> None:
    (root / "params.yaml").write_text(RUBRIC_FLOORS, encoding="utf-8")


def float_metrics() -> dict[str, float]:
    """What the gate reads from RETRIEVAL + GROUNDED: the floats (integers are counts)."""
    return {k: v for k, v in {**RETRIEVAL, **GROUNDED}.items() if isinstance(v, float)}


def policy_data() -> dict[str, Any]:
    return json.loads(POLICY_FILE.read_text(encoding="utf-8"))


def policy(**changes: Any):
    return parse_policy({**policy_data(), **changes}, source="test-policy.json")


def write_metrics(
    root: Path, retrieval: dict[str, Any] | None = None, grounded: dict[str, Any] | None = None
) -> list[Path]:
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    paths = [root / "metrics" / "retrieval.json", root / "metrics" / "grounded.json"]
    paths[0].write_text(json.dumps(RETRIEVAL if retrieval is None else retrieval, indent=2, sort_keys=True) + "\n")
    paths[1].write_text(json.dumps(GROUNDED if grounded is None else grounded, indent=2, sort_keys=True) + "\n")
    return paths


def grounded(**changes: float) -> dict[str, Any]:
    return {**GROUNDED, **changes}


def identity(prompt: str = "v1") -> RunIdentity:
    return RunIdentity(
        datasetId="squad-v2-dev-12",
        datasetVersion="3f5e9c0d1a2b4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
        modelVersion="sentence-transformers/all-MiniLM-L6-v2@sha256:0123456789abcdef+answerer=extractive;judge=lexical",
        promptVersion=prompt,
    )


def write_tiny_store(path: Path, dataset: str = "tiny") -> None:
    aid = uuid.uuid5(uuid.NAMESPACE_URL, "https://en.wikipedia.org/wiki/Normans")
    analysis = Analysis(
        id=aid,
        url="https://en.wikipedia.org/wiki/Normans",
        title="Normans",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        chunks=[Chunk(id=uuid.uuid5(aid, "0"), content="The Normans gave their name to Normandy.", chunk_index=0)],
    )
    query = Query(
        id="q1",
        text="Who gave their name to Normandy?",
        domain="history",
        expected=Expected(chunks=[Relevance(id=analysis.chunks[0].id)], analyses=[Relevance(id=aid)]),
        reference_answers=["The Normans"],
        expected_behavior=ExpectedBehavior(behavior="answer"),
    )
    write_store(path, dataset, [analysis], [query], {"analyses": 1, "queries": 1})
