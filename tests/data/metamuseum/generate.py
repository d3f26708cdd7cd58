"""Write the MetaMuseum-style prompt file (120 prompts) and a responses file for it, deterministically.

    python tests/data/metamuseum/generate.py [OUT_DIR]     (default: this directory)

The prompts are questions of goldkeeper's bundled SQuAD 2.0 sample (12 articles), written in the
MetaMuseum prompt format (``goldkeeper import prompts``): per article, in the sample's order, the
first 7 answerable and the first 3 unanswerable questions, numbered MM-EVAL-0001..0120. Answerable
prompts expect their paragraph (``expectedEvidence``) and carry SQuAD's answers; unanswerable ones
expect a refusal. So the prompts refer to the analyses and chunks that ``goldkeeper import squad
--sample`` loads, and ``goldkeeper eval grounded --answerer responses:responses.jsonl`` scores them.

``responses.jsonl`` is what a good, imperfect system answers: the sentence holding the first
reference answer, cited with every field the prompts require (entity id, property path, source
URL, retrieval time) plus the chunk id; refusals for unanswerable prompts; and a wrong refusal for
every 12th answerable prompt (so the scores are not all 1.0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from goldkeeper.evals.answerers import split_sentences
from goldkeeper.importers.squad import load_squad, sample_path
from goldkeeper.models import Analysis, Query

HERE = Path(__file__).resolve().parent
PROMPTS = "golden-museum-questions.v1.json"
RESPONSES = "responses.jsonl"
PER_ARTICLE = {"answer": 7, "refuse": 3}
RETRIEVED_AT = "2026-10-01T00:00:00Z"
CITATION_FIELDS = ["entityId", "propertyPath", "sourceUrl", "retrievedAt"]
GROUNDING = {
    "answer": [
        "Every factual claim cites the paragraph of the collection record it comes from.",
        "State only what the cited paragraph says; add no dates, names or numbers it does not contain.",
    ],
    "refuse": [
        "The collection holds no record that answers this question: say so instead of answering.",
    ],
}
REFUSAL = "Decline when no collection record supports an answer; never guess from similar records."
MUST_NOT = ["answer_without_evidence", "fabricate_citation"]


def chosen(analyses: list[Analysis], queries: list[Query]) -> list[tuple[Query, Analysis]]:
    """Per article, its first answerable and unanswerable questions (PER_ARTICLE), in the sample's order."""
    picked = []
    for analysis in analyses:
        own = [q for q in queries if q.domain == analysis.title]
        for outcome, count in PER_ARTICLE.items():
            picked += [(q, analysis) for q in own if q.expected_behavior.behavior == outcome][:count]
    return picked


def prompt_row(number: int, query: Query, analysis: Analysis) -> dict[str, Any]:
    outcome = query.expected_behavior.behavior
    row: dict[str, Any] = {
        "id": f"MM-EVAL-{number:04d}",
        "domain": analysis.title,
        "difficulty": query.difficulty,
        "prompt": query.text,
        "tags": ["metamuseum-sample", f"squad:{query.id}"],
        "expectedBehavior": {
            "outcome": outcome,
            "groundingRequirements": GROUNDING[outcome],
            "citationRequirements": {"perClaim": CITATION_FIELDS},
            "refusalBehavior": REFUSAL,
            "mustNot": MUST_NOT,
        },
    }
    if outcome == "answer":
        row["expectedEvidence"] = {"chunks": [{"id": str(query.expected.chunks[0].id), "relevance": 1}]}
        row["referenceAnswers"] = list(query.reference_answers)
    return row


def response(row: dict[str, Any], query: Query, analysis: Analysis, wrong_refusal: bool) -> dict[str, Any]:
    if row["expectedBehavior"]["outcome"] == "refuse" or wrong_refusal:
        return {"query_id": row["id"], "answer": "", "refused": True, "claims": []}
    chunk_id = query.expected.chunks[0].id
    position, chunk = next((i, c) for i, c in enumerate(analysis.chunks) if c.id == chunk_id)
    reference = query.reference_answers[0]
    sentence = next((s for s in split_sentences(chunk.content) if reference in s), chunk.content)
    citation = {
        "chunk_id": str(chunk.id),
        "entity_id": str(analysis.id),
        "property_path": f"chunks[{position}].content",
        "source_url": analysis.url,
        "retrieved_at": RETRIEVED_AT,
    }
    claims = [{"text": sentence, "citations": [citation]}]
    return {"query_id": row["id"], "answer": sentence, "refused": False, "claims": claims}


def generate(out: Path) -> tuple[Path, Path]:
    records = load_squad(sample_path())
    rows, responses, answered = [], [], 0
    for number, (query, analysis) in enumerate(chosen(records.analyses, records.queries), start=1):
        row = prompt_row(number, query, analysis)
        rows.append(row)
        answerable = row["expectedBehavior"]["outcome"] == "answer"
        answered += answerable
        responses.append(response(row, query, analysis, wrong_refusal=answerable and answered % 12 == 0))
    out.mkdir(parents=True, exist_ok=True)
    prompts_path, responses_path = out / PROMPTS, out / RESPONSES
    prompts_path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in responses]
    responses_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prompts_path, responses_path


if __name__ == "__main__":
    for written in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written)
