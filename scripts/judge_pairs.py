"""Build the labelled claim/evidence pairs of tests/data/judge-pairs/ from the golden chunks (deterministic).

Usage: python scripts/judge_pairs.py [--golden golden] [--out tests/data/judge-pairs]

Writes pairs.jsonl (the pairs, evidence by chunk_id) and evidence.json (chunk_id -> the chunk's text).
Every chunk of the 12 golden articles gives up to one pair per rule; the evidence is always the chunk's
text. Sentences of fewer than 6 words are skipped. The sentence used is the chunk's
``chunk_index mod n``-th eligible one (rotating through the sentences, no randomness).

supported / verbatim         a sentence of the chunk, verbatim
supported / first_clause     the sentence up to its first comma (at least 5 words)
contradicted / negated       "not" inserted after the first is/was/are/were/has/had/can/could/will/would/did/does
contradicted / number_changed  its first number n becomes n+1 (n+10 when n >= 1000: years), absent from the chunk
contradicted / entity_swapped  its first capitalised name (not the first word) replaced by a name from another
                             sentence of the same chunk, absent from this sentence (present in the evidence,
                             attached to something else)
not_enough_info / other_article  a sentence of the same position from the next article (sorted by title)
not_enough_info / other_chunk    a sentence of the next chunk of the same article (wrapping around)

split: the articles sorted by title; even positions are the tuning half, odd the report half.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

SENT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
AUX = re.compile(r"\b(is|was|are|were|has|had|can|could|will|would|did|does)\b")
NUMBER = re.compile(r"\b\d+\b")
NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENT.split(text) if len(s.split()) >= 6]


def negate(sentence: str) -> str | None:
    match = AUX.search(sentence)
    if match is None or re.search(r"\bnot\b|n't\b", sentence):
        return None
    return sentence[: match.end()] + " not" + sentence[match.end() :]


def change_number(sentence: str, chunk: str) -> str | None:
    for match in NUMBER.finditer(sentence):
        n = int(match.group())
        new = str(n + 10 if n >= 1000 else n + 1)
        if not re.search(rf"\b{new}\b", chunk):
            return sentence[: match.start()] + new + sentence[match.end() :]
    return None


def names(sentence: str) -> list[str]:
    return [m.group() for m in NAME.finditer(sentence) if m.start() > 0]


def swap_entity(sentence: str, others: list[str]) -> str | None:
    mine = names(sentence)
    candidates = [
        n for s in others for n in names(s) if n not in sentence and all(n not in m and m not in n for m in mine)
    ]
    if not mine or not candidates:
        return None
    return sentence.replace(mine[0], candidates[0], 1)


def build(golden: Path) -> tuple[list[dict], dict[str, str]]:
    articles = sorted(
        (a for f in sorted(golden.glob("analyses/*.json")) for a in json.loads(f.read_text())), key=lambda a: a["title"]
    )
    pairs: list[dict] = []
    evidence: dict[str, str] = {}
    for position, article in enumerate(articles):
        split = "tune" if position % 2 == 0 else "report"
        chunks = sorted(article["chunks"], key=lambda c: c["chunk_index"])
        following = articles[(position + 1) % len(articles)]["chunks"]
        for k, chunk in enumerate(chunks):
            text, ss = chunk["content"], sentences(chunk["content"])
            evidence[chunk["id"]] = text
            if not ss:
                continue
            i = chunk["chunk_index"] % len(ss)
            s = ss[i]
            clause = s.split(",")[0].strip()
            other_ss = sentences(following[k % len(following)]["content"])
            next_ss = sentences(chunks[(k + 1) % len(chunks)]["content"]) if len(chunks) > 1 else []
            made = {
                ("supported", "verbatim"): s,
                ("supported", "first_clause"): clause if "," in s and len(clause.split()) >= 5 else None,
                ("contradicted", "negated"): negate(s),
                ("contradicted", "number_changed"): change_number(s, text),
                ("contradicted", "entity_swapped"): swap_entity(s, ss[:i] + ss[i + 1 :]),
                ("not_enough_info", "other_article"): other_ss[i % len(other_ss)] if other_ss else None,
                ("not_enough_info", "other_chunk"): next_ss[i % len(next_ss)] if next_ss else None,
            }
            for (label, rule), claim in made.items():
                if claim:
                    pairs.append(
                        {
                            "id": f"{chunk['id']}:{rule}",
                            "article": article["title"],
                            "split": split,
                            "label": label,
                            "rule": rule,
                            "chunk_id": chunk["id"],
                            "sentence": i,
                            "claim": claim,
                        }
                    )
    used = {p["chunk_id"] for p in pairs}
    return pairs, {k: v for k, v in sorted(evidence.items()) if k in used}


def load_pairs(folder: Path, split: str | None = None) -> list[dict]:
    """The pairs of ``folder`` (one split or all), each with its ``evidence`` text filled in."""
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    pairs = [json.loads(line) for line in (folder / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{**p, "evidence": evidence[p["chunk_id"]]} for p in pairs if split is None or p["split"] == split]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", type=Path, default=Path("golden"))
    parser.add_argument("--out", type=Path, default=Path("tests/data/judge-pairs"))
    args = parser.parse_args()
    pairs, evidence = build(args.golden)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(p, ensure_ascii=False, sort_keys=True) + "\n" for p in pairs)
    (args.out / "pairs.jsonl").write_text(lines, encoding="utf-8")
    text = json.dumps(evidence, ensure_ascii=False, indent=0) + "\n"
    (args.out / "evidence.json").write_text(text, encoding="utf-8")
    print(f"{len(pairs)} pairs from {len(evidence)} chunks -> {args.out}")


if __name__ == "__main__":
    main()
