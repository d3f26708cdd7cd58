"""``extractive``: the built-in cite-or-refuse baseline answerer.

It retrieves the ``top_k`` chunks for the prompt (through a :data:`~.base.Retriever`;
``eval grounded`` uses the database search of :mod:`.retriever`), splits them
into sentences and scores each sentence by the IDF-weighted share of the
prompt's content words it contains, blended with the sentence's cosine
similarity to the prompt. The evidence score is the best sentence's score;
below ``grounded.refusal_threshold`` it refuses, otherwise it answers with the
best ``max_sentences`` sentences, one claim each, citing the chunk id,
analysis id, entity id, source URL, property path and retrieval time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np

from goldkeeper.evals.answerers.base import AnswerSet, Hit, Retriever
from goldkeeper.evals.evidence import EvidenceIndex
from goldkeeper.evals.judges import content_tokens
from goldkeeper.evals.judges.base import SENTENCE_END
from goldkeeper.evals.response import Citation, Claim, Response
from goldkeeper.models import Query
from goldkeeper.progress import SILENT, Progress

#: texts embedded per call while answering (progress moves after each)
EMBED_BATCH = 256


def split_sentences(text: str) -> list[str]:
    """Split a passage into sentences: the judges' rule (. ! ? followed by a capital or digit; 。！？), line
    breaks kept inside a sentence (a passage's hard wraps do not end one)."""
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


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
        progress: Progress = SILENT,
    ) -> None:
        self.retriever = retriever
        self.index = index
        self.embedder = embedder
        self.top_k = top_k
        self.max_sentences = max_sentences
        self.refusal_threshold = refusal_threshold
        self.semantic_weight = semantic_weight if embedder is not None else 0.0
        self.clock = clock
        self._idf = self._document_frequencies(index, progress)
        self._sentences: dict[UUID, list[tuple[str, set[str]]]] = {}
        #: sentence vectors (embedded as documents) and prompt vectors (as queries: embedding.query_prefix),
        #: apart, since a prompt may be worded like a sentence and gets another vector
        self._vectors: dict[str, np.ndarray] = {}
        self._prompt_vectors: dict[str, np.ndarray] = {}

    @staticmethod
    def _document_frequencies(index: EvidenceIndex, progress: Progress = SILENT) -> dict[str, float]:
        df: Counter[str] = Counter()
        # every chunk of the dataset tokenised and stemmed: seconds for tens of thousands, before any answer
        with progress.task("indexing the chunks' words", len(index.chunks)) as task:
            for chunk in index.chunks.values():
                df.update(set(content_tokens(chunk.content)))
                task.advance()
        n = max(1, len(index.chunks))
        return {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()} | {"": math.log(n + 1)}

    def idf(self, token: str) -> float:
        return self._idf.get(token, self._idf[""])

    def sentences(self, chunk_id: UUID) -> list[tuple[str, set[str]]]:
        if chunk_id not in self._sentences:
            text = self.index.chunks[chunk_id].content
            self._sentences[chunk_id] = [(s, set(content_tokens(s))) for s in split_sentences(text)]
        return self._sentences[chunk_id]

    def _embed(
        self, texts: Sequence[str], advance: Callable[[int], None] = lambda n: None, *, prompts: bool = False
    ) -> None:
        """Embed (once) every text not embedded yet, ``EMBED_BATCH`` at a time, advancing per batch; ``prompts``:
        as queries (the query prefix), else as documents."""
        if self.embedder is None:
            return
        vectors = self._prompt_vectors if prompts else self._vectors
        embed = self.embedder.embed_queries if prompts else self.embedder.embed_documents
        todo = list(dict.fromkeys(t for t in texts if t not in vectors))
        advance(len(texts) - len(todo))
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            for text, vector in zip(batch, embed(batch), strict=True):
                vectors[text] = vector
            advance(len(batch))

    def evidence(self, question: str, hits: Sequence[Hit]) -> list[tuple[float, int, UUID, str]]:
        """Candidate sentences as (score, rank, chunk id, sentence), best first."""
        q_tokens = set(content_tokens(question))
        total = sum(self.idf(t) for t in q_tokens)
        q_vec = self._prompt_vectors.get(question)
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
        # the retriever reports its own progress, per search batch (the database one does)
        results = self.retriever([q.text for q in queries], self.top_k)
        if self.semantic_weight:
            chunk_ids = {h.chunk_id for hits in results for h in hits if h.chunk_id in self.index.chunks}
            prompts = [q.text for q in queries]
            texts = [s for c in sorted(chunk_ids) for s, _ in self.sentences(c)]
            with progress.task("embedding sentences", total=len(prompts) + len(texts)) as task:
                self._embed(prompts, task.advance, prompts=True)
                self._embed(texts, task.advance)
        with progress.task("answering (extractive)", total=len(queries)) as task:
            for query, hits in zip(queries, results, strict=True):
                answers.responses[query.id] = self.respond(query, hits, retrieved_at)
                task.advance()
        return answers


__all__ = ["split_sentences", "ExtractiveAnswerer"]
