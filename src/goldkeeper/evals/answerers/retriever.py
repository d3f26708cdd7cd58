"""The extractive answerer's retrieval: the database search of :mod:`goldkeeper.db.search`.

The mode is ``grounded.retrieval_mode`` (vector | fulltext | hybrid); every
other search parameter (depth of each leg, RRF k, ef_search, tsquery, boosts)
is the ``retrieval:`` section, so the baseline retrieves exactly as
``goldkeeper eval retrieval`` measures. The database is the configured one, or
the embedded server (started for the call when stopped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np

from goldkeeper.config import RetrievalParams, Settings
from goldkeeper.db.connection import connection
from goldkeeper.db.embedded import database_url_for
from goldkeeper.db.golden_privileges import refuse_unreadable
from goldkeeper.db.search import (
    Boosts,
    apply_boosts,
    chunk_count,
    fulltext_chunks,
    fulltext_search,
    prepare,
    rrf_fuse,
    searched_chunks,
    vector_search,
)
from goldkeeper.errors import EvalError
from goldkeeper.evals.answerers.base import Hit, Retriever
from goldkeeper.progress import SILENT, Progress


def database_retriever(settings: Settings, embedder: Any, progress: Progress = SILENT) -> Retriever:
    """A retriever over the restored database with the configured mode and search parameters.

    It reports ``retrieving`` progress after every ``retrieval.query_batch_size`` questions.
    """
    mode = settings.grounded.retrieval_mode
    params = settings.retrieval

    def retrieve(texts: Sequence[str], k: int) -> list[list[Hit]]:
        results: list[list[Hit]] = []
        with progress.task("retrieving", total=len(texts)) as task:
            with database_url_for(settings.database_url, settings.home_path) as url, connection(url) as conn:
                prepare(conn)
                if settings.database is None:  # else the mapped chunks (db check names their privileges)
                    refuse_unreadable(conn, ("golden.chunks",))
                dim = embedder.dim if mode != "fulltext" else None
                chunks = searched_chunks(conn, settings.database, params.fulltext_config, dim)
                _check_chunks(conn, mode, chunks)
                # the chunks' tsvectors once per call, as eval retrieval reads them (a read-only session: as before)
                text_chunks = fulltext_chunks(conn, settings.database, chunks)[0] if mode != "vector" else chunks
                batch = params.query_batch_size
                for start in range(0, len(texts), batch):
                    part = list(texts[start : start + batch])
                    found = _search_batch(
                        conn, part, k, mode=mode, params=params, embedder=embedder, chunks=(chunks, text_chunks)
                    )
                    results.extend(found)
                    task.advance(len(part))
        return results

    return retrieve


def _check_chunks(conn: Any, mode: str, source: Any) -> None:
    """Refuse to search a database without chunks, or without embeddings when the mode needs them."""
    chunks, embedded = chunk_count(conn, source)
    if chunks == 0:
        raise EvalError("no golden chunks in the database (run `goldkeeper restore` first)")
    if embedded < chunks and mode != "fulltext":
        raise EvalError(f"{chunks - embedded} of {chunks} chunks have no embedding (rerun `goldkeeper restore`)")


def _search_batch(
    conn: Any, part: list[str], k: int, *, mode: str, params: RetrievalParams, embedder: Any, chunks: Any
) -> list[list[Hit]]:
    """The top ``k`` boosted hits of each text of one batch (hybrid fuses legs searched ``depth`` deep);
    ``chunks``: what the vector leg and the full-text leg read."""
    boosts = Boosts(params.boosts.section_title, dict(params.boosts.content_type))
    depth = max(k, params.depth) if mode == "hybrid" else k
    vec = text = None
    if mode in ("vector", "hybrid"):
        embs = np.asarray(embedder.embed_queries(part), dtype=np.float32)  # questions: embedding.query_prefix
        vec = vector_search(
            conn,
            embs,
            part,
            depth,
            ef_search=params.ef_search,
            ts_config=params.fulltext_config,
            tsquery=params.tsquery,
            chunks=chunks[0],
        )
    if mode in ("fulltext", "hybrid"):
        text = fulltext_search(
            conn,
            part,
            depth,
            ts_config=params.fulltext_config,
            tsquery=params.tsquery,
            normalization=params.rank_normalization,
            chunks=chunks[1],
        )
    results: list[list[Hit]] = []
    for i in range(len(part)):
        if mode == "vector":
            hits = vec[i]  # type: ignore[index]
        elif mode == "fulltext":
            hits = text[i]  # type: ignore[index]
        else:
            hits = rrf_fuse([vec[i], text[i]], params.rrf_k)  # type: ignore[index]
        hits = apply_boosts(hits, boosts)[:k]
        results.append([Hit(UUID(h.chunk_id), float(h.score)) for h in hits])
    return results


__all__ = ["database_retriever"]
