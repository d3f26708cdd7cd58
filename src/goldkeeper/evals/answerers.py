"""Answerers: the system under test of ``eval grounded``. Each turns prompts into responses.

Named by a spec (params.yaml ``grounded.answerer`` or ``--answerer``):

``extractive``
    The built-in cite-or-refuse baseline. Retrieves the ``top_k`` chunks for
    the prompt with the configured retrieval mode (``retrieval:`` params,
    database search), splits them into sentences and scores each sentence by
    the IDF-weighted share of the prompt's content words it contains. The
    evidence score is the best sentence's score; below
    ``grounded.refusal_threshold`` it refuses, otherwise it answers with the
    best ``max_sentences`` sentences, one claim each, citing the chunk id,
    analysis id, entity id, source URL, property path and retrieval time.
``command:PROGRAM``
    Runs PROGRAM (split like a shell command line, run in the project
    directory) once per batch of ``grounded.batch_size`` prompts: prompts as
    JSON lines on stdin (see :func:`prompt_json`), responses as JSON lines on
    stdout. A batch that times out (``grounded.command_timeout_s``) or exits
    non-zero fails each of its cases with that reason; the rest go on.
``responses:FILE``
    A JSON-lines file of responses already produced, matched by ``query_id``.

A malformed line fails only its own case (when its ``query_id`` is readable)
or is listed as an unmatched response; it never stops the run.
"""

from __future__ import annotations

import math
import re
import shlex
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import orjson

from goldkeeper.config import Settings
from goldkeeper.errors import EvalError, UsageError
from goldkeeper.models import Query
from goldkeeper.progress import SILENT, Progress
from goldkeeper.evals.grounded import EvidenceIndex, GroundedParams
from goldkeeper.evals.judges import content_tokens
from goldkeeper.evals.response import Citation, Claim, Response, parse_response_line


@dataclass
class AnswerSet:
    """What an answerer produced: responses by query id, per-case failures, and unmatched lines."""

    responses: dict[str, Response] = field(default_factory=dict)
    #: query id -> (outcome, reason); outcome is "malformed" (bad line, failed batch) or "missing".
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: lines that belong to no prompt of the run (unknown query id, unreadable line).
    stray: list[str] = field(default_factory=list)

    def fail(self, query_id: str, reason: str, outcome: str = "malformed") -> None:
        self.responses.pop(query_id, None)
        if query_id not in self.failures:
            self.failures[query_id] = (outcome, reason)

    def collect(self, lines: Iterable[bytes | str], wanted: set[str], source: str) -> None:
        """Parse JSON lines into responses for ``wanted`` query ids (blank lines are skipped)."""
        seen: dict[str, int] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            parsed = parse_response_line(line)
            where = f"{source} line {number}"
            qid = parsed.query_id
            if qid is None:
                self.stray.append(f"{where}: {parsed.error or 'no query_id'}")
                continue
            if qid not in wanted:
                self.stray.append(f"{where}: unknown query id {qid!r}")
                continue
            if qid in seen:
                self.fail(qid, f"duplicate response: {source} lines {seen[qid]} and {number} both answer this query")
                continue
            seen[qid] = number
            if parsed.response is None:
                self.fail(qid, f"{where}: {parsed.error}")
            else:
                self.responses[qid] = parsed.response


class Answerer(Protocol):
    name: str

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet: ...


def prompt_json(query: Query) -> dict[str, Any]:
    """The prompt an external system sees: the question and the citation contract, not the expected outcome."""
    behavior = query.expected_behavior
    return {
        "query_id": query.id,
        "text": query.text,
        "domain": query.domain,
        "difficulty": query.difficulty,
        "tags": list(query.tags),
        "grounding": behavior.grounding,
        "citation_fields": list(behavior.citation_fields),
        "refusal": behavior.refusal,
        "must_not": list(behavior.must_not),
    }


# ---------------------------------------------------------------- responses:FILE


class ResponsesFileAnswerer:
    """Responses already produced by the system under test, in a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"responses:{path}"

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise EvalError(f"{self.path}: cannot read the responses file: {exc.strerror}") from exc
        answers = AnswerSet()
        answers.collect(data.splitlines(), {q.id for q in queries}, str(self.path))
        return answers


# ---------------------------------------------------------------- command:PROGRAM


class CommandAnswerer:
    """An external program answering batches of prompts over stdin/stdout JSON lines."""

    def __init__(self, command: str, *, cwd: Path, batch_size: int, timeout_s: float) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"answerer command:{command}: cannot parse the command line: {exc}") from exc
        if not self.argv:
            raise UsageError("answerer command: needs a program, e.g. command:'python my_rag.py'")
        self.name = f"command:{command}"
        self.cwd = cwd
        self.batch_size = batch_size
        self.timeout_s = timeout_s

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet:
        answers = AnswerSet()
        batches = [queries[i : i + self.batch_size] for i in range(0, len(queries), self.batch_size)]
        with progress.task("answering (command)", total=len(queries)) as task:
            for number, batch in enumerate(batches, start=1):
                self._run_batch(number, batch, answers)
                task.advance(len(batch))
        return answers

    def _run_batch(self, number: int, batch: Sequence[Query], answers: AnswerSet) -> None:
        stdin = b"".join(orjson.dumps(prompt_json(q)) + b"\n" for q in batch)
        label = f"batch {number} ({len(batch)} prompts)"
        try:
            done = subprocess.run(
                self.argv, input=stdin, capture_output=True, cwd=self.cwd, timeout=self.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            for q in batch:
                answers.fail(q.id, f"answerer command timed out after {self.timeout_s:g} s on {label}")
            return
        except OSError as exc:
            raise EvalError(f"answerer {self.name}: cannot run {self.argv[0]!r}: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            reason = f"answerer command exited with status {done.returncode} on {label}"
            if tail[0]:
                reason += f": {tail[0][:300]}"
            for q in batch:
                answers.fail(q.id, reason)
            return
        answers.collect(done.stdout.splitlines(), {q.id for q in batch}, f"command output of {label}")


# ---------------------------------------------------------------- extractive

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split a passage into sentences (on . ! ? followed by a capital or digit)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk."""

    chunk_id: UUID
    score: float


#: A retriever: (all query texts, k) -> ranked chunk hits per query, in order (one call per run).
Retriever = Callable[[Sequence[str], int], list[list[Hit]]]


class CachingEmbedder:
    """Wraps an embedder and remembers vectors by text, so a run embeds each prompt and sentence once."""

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.model_id = getattr(embedder, "model_id", "")
        self.dim = getattr(embedder, "dim", 0)
        self._cache: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for text, vector in zip(todo, self.inner.embed_documents(todo), strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class ExtractiveAnswerer:
    """The cite-or-refuse baseline: the best supporting sentence(s) of the retrieved chunks, or a refusal.

    Each sentence of the retrieved chunks gets::

        coverage = sum(idf of the prompt's content words in the sentence) / sum(idf of the prompt's content words)
        score    = semantic_weight * cosine(prompt, sentence) + (1 - semantic_weight) * coverage

    (idf over the chunks of the dataset; cosine with the configured embedder, 0 without one). The
    best-scoring sentences are the answer; the best score is the evidence score, and below
    ``refusal_threshold`` the answerer refuses.
    """

    name = "extractive"

    def __init__(
        self,
        retriever: Retriever,
        index: EvidenceIndex,
        *,
        embedder: Any | None = None,
        top_k: int = 5,
        max_sentences: int = 1,
        refusal_threshold: float = 0.5,
        semantic_weight: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.retriever = retriever
        self.index = index
        self.embedder = embedder
        self.top_k = top_k
        self.max_sentences = max_sentences
        self.refusal_threshold = refusal_threshold
        self.semantic_weight = semantic_weight if embedder is not None else 0.0
        self.clock = clock
        self._idf = self._document_frequencies(index)
        self._sentences: dict[UUID, list[tuple[str, set[str]]]] = {}
        self._vectors: dict[str, np.ndarray] = {}

    @staticmethod
    def _document_frequencies(index: EvidenceIndex) -> dict[str, float]:
        df: Counter[str] = Counter()
        for chunk in index.chunks.values():
            df.update(set(content_tokens(chunk.content)))
        n = max(1, len(index.chunks))
        return {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()} | {"": math.log(n + 1)}

    def idf(self, token: str) -> float:
        return self._idf.get(token, self._idf[""])

    def sentences(self, chunk_id: UUID) -> list[tuple[str, set[str]]]:
        if chunk_id not in self._sentences:
            text = self.index.chunks[chunk_id].content
            self._sentences[chunk_id] = [(s, set(content_tokens(s))) for s in split_sentences(text)]
        return self._sentences[chunk_id]

    def _embed(self, texts: Iterable[str]) -> None:
        """Embed (once) every text not embedded yet."""
        if self.embedder is None:
            return
        todo = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if todo:
            for text, vector in zip(todo, self.embedder.embed_documents(todo), strict=True):
                self._vectors[text] = vector

    def evidence(self, question: str, hits: Sequence[Hit]) -> list[tuple[float, int, UUID, str]]:
        """Candidate sentences as (score, rank, chunk id, sentence), best first."""
        q_tokens = set(content_tokens(question))
        total = sum(self.idf(t) for t in q_tokens)
        q_vec = self._vectors.get(question)
        candidates: list[tuple[float, int, UUID, str]] = []
        for rank, hit in enumerate(hits):
            if hit.chunk_id not in self.index.chunks:
                continue
            for sentence, tokens in self.sentences(hit.chunk_id):
                coverage = sum(self.idf(t) for t in q_tokens & tokens) / total if total else 0.0
                score = coverage
                if self.semantic_weight and q_vec is not None:
                    cosine = float(np.dot(q_vec, self._vectors[sentence]))
                    score = self.semantic_weight * cosine + (1.0 - self.semantic_weight) * coverage
                candidates.append((score, rank, hit.chunk_id, sentence))
        candidates.sort(key=lambda c: (-c[0], c[1]))
        return candidates

    def respond(self, query: Query, hits: Sequence[Hit], retrieved_at: datetime) -> Response:
        candidates = self.evidence(query.text, hits)
        if not candidates or candidates[0][0] < self.refusal_threshold:
            return Response(query_id=query.id, answer="", refused=True, claims=[])
        chosen = candidates[: self.max_sentences]
        claims = []
        for _, _, chunk_id, sentence in chosen:
            chunk = self.index.chunks[chunk_id]
            doc = self.index.analyses[chunk.analysis_id]
            position = doc.chunk_ids.index(chunk_id)
            citation = Citation(
                chunk_id=chunk_id,
                analysis_id=doc.id,
                source_url=doc.url,
                retrieved_at=retrieved_at,
                entity_id=str(doc.id),
                property_path=f"chunks[{position}].content",
            )
            claims.append(Claim(text=sentence, citations=[citation]))
        return Response(query_id=query.id, answer=" ".join(c.text for c in claims), refused=False, claims=claims)

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet:
        answers = AnswerSet()
        retrieved_at = self.clock()
        with progress.task("retrieving", total=len(queries)) as task:
            results = self.retriever([q.text for q in queries], self.top_k)
            task.advance(len(queries))
        if self.semantic_weight:
            chunk_ids = {h.chunk_id for hits in results for h in hits if h.chunk_id in self.index.chunks}
            texts = [q.text for q in queries] + [s for c in sorted(chunk_ids) for s, _ in self.sentences(c)]
            with progress.task("embedding sentences", total=len(texts)) as task:
                self._embed(texts)
                task.advance(len(texts))
        with progress.task("answering (extractive)", total=len(queries)) as task:
            for query, hits in zip(queries, results, strict=True):
                answers.responses[query.id] = self.respond(query, hits, retrieved_at)
                task.advance()
        return answers


# ---------------------------------------------------------------- factory


def make_answerer(
    spec: str, *, settings: Settings, params: GroundedParams, index: EvidenceIndex, embedder: Any | None = None
) -> Any:
    """The answerer named by ``spec``: ``extractive``, ``command:PROGRAM`` or ``responses:FILE``."""
    kind, _, arg = spec.partition(":")
    if kind == "extractive" and not arg:
        from goldkeeper.evals.retriever import database_retriever

        return ExtractiveAnswerer(
            database_retriever(settings, embedder),
            index,
            embedder=embedder,
            top_k=params.top_k,
            max_sentences=params.max_sentences,
            refusal_threshold=params.refusal_threshold,
            semantic_weight=params.semantic_weight,
        )
    if kind == "command" and arg.strip():
        return CommandAnswerer(arg, cwd=settings.root, batch_size=params.batch_size, timeout_s=params.command_timeout_s)
    if kind == "responses" and arg.strip():
        return ResponsesFileAnswerer(settings.resolve(arg))
    raise UsageError(f"unknown answerer {spec!r}: use extractive, command:PROGRAM or responses:FILE")


__all__ = [
    "AnswerSet",
    "Answerer",
    "prompt_json",
    "ResponsesFileAnswerer",
    "CommandAnswerer",
    "split_sentences",
    "Hit",
    "Retriever",
    "CachingEmbedder",
    "ExtractiveAnswerer",
    "make_answerer",
]
