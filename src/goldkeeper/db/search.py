"""Search over ``golden.chunks`` in PostgreSQL: vector (pgvector), full text, and their RRF fusion.

With params ``database:`` the chunks are the application's own rows inside the mapping's scope
(:func:`mapped_chunks`): the same SQL over a subquery of the same shape.

- **vector**: cosine distance ``embedding <=> query`` served by the HNSW index
  (``vector_cosine_ops``); ``hnsw.ef_search`` is raised to at least the depth
  for the transaction, so the index can return ``depth`` candidates, and
  sequential scans are disabled for the statement (the planner would pick an
  exact scan on a small table; ``vector_index: exact`` asks for that). Score =
  1 - cosine distance.
- **fulltext**: the ``tsv`` column (GIN index) matched against the question
  with OR semantics: ``plainto_tsquery`` normalises the text (stemming, stop
  words) and its ``&`` operators are turned into ``|``, so a natural-language
  question matches chunks sharing any of its content words (AND semantics, as
  ``websearch_to_tsquery`` gives, matches almost nothing for full questions).
  ``tsquery: websearch`` selects ``websearch_to_tsquery`` instead. Score =
  ``ts_rank_cd`` (cover density) with the configured normalisation. The chunks' tsvector is made with the
  same configuration as the question's tsquery (:func:`golden_chunks`); where it is an expression it is
  computed once per session into a temporary table (:func:`fulltext_chunks`), not for each question.
- **hybrid**: reciprocal rank fusion, score(d) = sum over legs of 1 / (k + rank_leg(d)),
  each leg retrieving ``depth`` documents.

Ties are broken by chunk id descending everywhere, as trec_eval breaks them
when it scores the run. Optional metadata boosts are added to the score of a document: ``section_title``
when the chunk's section title matches the question (the same OR tsquery),
``content_type[type]`` per content type. Queries run in batches: one statement
per batch (``unnest`` + ``LATERAL``), results in rank order per query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from goldkeeper.config.sections import DatabaseParams
from goldkeeper.db.fulltext_index import (
    GOLDEN_TS_CONFIG,
    fulltext_expression,
    missing_fulltext_index,
    text_search_config,
)
from goldkeeper.db.fulltext_table import fulltext_table
from goldkeeper.db.mapped_reader import select_scoped
from goldkeeper.db.mapping import Mapping as TableMapping
from goldkeeper.db.mapping import enclosed, user_sql
from goldkeeper.db.mapping_check import require_valid
from goldkeeper.db.schema import NO_GOLDEN_SCHEMA
from goldkeeper.errors import DatabaseError, EvalError

TsqueryMode = Literal["or", "websearch"]


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk: id (uuid text), leg score, 1-based rank, and the metadata the boosts read."""

    chunk_id: str
    score: float
    rank: int
    title_match: bool = False
    content_type: str = ""


@dataclass(frozen=True)
class Boosts:
    section_title: float = 0.0
    content_type: Mapping[str, float] | None = None

    def active(self) -> bool:
        return bool(self.section_title) or any((self.content_type or {}).values())

    def bonus(self, hit: Hit) -> float:
        value = self.section_title if hit.title_match else 0.0
        return value + float((self.content_type or {}).get(hit.content_type, 0.0))


def _tsquery_sql(mode: TsqueryMode, config_param: str, text_param: str) -> str:
    if mode == "websearch":
        return f"websearch_to_tsquery({config_param}::regconfig, {text_param})"
    if mode == "or":
        # plainto_tsquery emits lexemes joined by ' & ' only; OR them instead.
        return (
            f"to_tsquery({config_param}::regconfig, "
            f"replace(plainto_tsquery({config_param}::regconfig, {text_param})::text, ' & ', ' | '))"
        )
    raise EvalError(f"retrieval.tsquery: unknown mode {mode!r} (or | websearch)")


def prepare(conn: psycopg.Connection[Any]) -> None:
    """Register the vector type on ``conn`` (once per connection)."""
    try:
        register_vector(conn)
    except psycopg.ProgrammingError as exc:
        raise DatabaseError("the pgvector extension is not installed in this database (run restore first)") from exc


#: the chunks searched in the reference schema
GOLDEN_CHUNKS = sql.SQL("golden.chunks")


def mapped_chunks(mapping: TableMapping, ts_config: str = "english") -> sql.Composable:
    """The chunks of the application's own tables (params ``database:``, issue 12) in the shape the searches
    read (``id`` uuid, ``embedding``, ``content_type``, ``section_title``, ``tsv``): only the rows inside the
    mapping's scope. ``tsv`` is ``tables.chunks.fulltext`` (a column or an expression), else ``to_tsvector``
    of the content column with ``ts_config``. A subquery PostgreSQL pulls up, so an index on the embedding
    column (or on the tsvector) serves the search as it serves the application; ``mapping`` carries the live
    column types (:func:`goldkeeper.db.mapping_check.require_valid`)."""
    table = mapping.tables["chunks"]
    if table.fulltext_column is not None:
        tsv: sql.Composable = sql.Identifier(table.fulltext_column)
    elif table.fulltext_expression is not None:
        tsv = enclosed(user_sql(table.fulltext_expression, escaped=True))
    else:
        tsv = sql.SQL("to_tsvector({}::regconfig, {})").format(
            sql.Literal(ts_config), mapping.read_expr("chunks", "content")
        )
    exprs = sql.SQL("{id} AS id, {emb} AS embedding, {ct} AS content_type, {st} AS section_title, {tsv} AS tsv").format(
        id=mapping.read_expr("chunks", "id"),
        emb=sql.Identifier(str(table.embedding_column)),
        ct=mapping.read_expr("chunks", "content_type"),
        st=mapping.read_expr("chunks", "section_title"),
        tsv=tsv,
    )
    return sql.SQL("({})").format(select_scoped(mapping, "chunks", exprs, escaped=True))


def golden_chunks(ts_config: str) -> sql.Composable:
    """``golden.chunks`` as the full-text leg must read it with ``ts_config``: the table itself (its ``tsv``
    column, GIN-indexed) for English, else a subquery whose ``tsv`` is ``to_tsvector(ts_config, content)``:
    a question parsed with German rules never matches lexemes stemmed with English ones."""
    if ts_config == GOLDEN_TS_CONFIG:
        return GOLDEN_CHUNKS
    return sql.SQL("(SELECT id, embedding, content_type, section_title, {} AS tsv FROM golden.chunks)").format(
        fulltext_expression(ts_config)
    )


def searched_chunks(
    conn: psycopg.Connection[Any], database: DatabaseParams | None, ts_config: str, dim: int | None
) -> sql.Composable:
    """What the searches read: ``golden.chunks`` (:func:`golden_chunks`), or with params ``database:`` the
    mapped chunks (the mapping checked first: a problem is a ConfigError listing them; ``dim``: the embedding
    column's, None: unchecked). ``ts_config`` is checked first (:func:`text_search_config`)."""
    config = text_search_config(conn, ts_config)
    if database is None:
        if conn.execute("SELECT to_regclass('golden.chunks')").fetchone() == (None,):
            raise DatabaseError(NO_GOLDEN_SCHEMA)  # not `relation "golden.chunks" does not exist` with its SQL
        return golden_chunks(config)
    return mapped_chunks(require_valid(conn, TableMapping.from_params(database), dim), ts_config)


def fulltext_chunks(
    conn: psycopg.Connection[Any], database: DatabaseParams | None, chunks: sql.Composable
) -> tuple[sql.Composable, str | None]:
    """What the full-text leg reads of ``chunks`` (:func:`searched_chunks`), and why not a temporary table: a
    ``tsv`` that is an expression (a configuration other than English, mapped chunks without a tsvector column)
    is computed once into one (:func:`goldkeeper.db.fulltext_table.fulltext_table`), else ``ts_rank_cd`` parses
    each matching chunk again for every question; a stored column (English's, a mapped one) is read as it is."""
    if chunks == GOLDEN_CHUNKS:
        return chunks, None
    if database is not None and TableMapping.from_params(database).tables["chunks"].fulltext_column is not None:
        return chunks, None
    return fulltext_table(conn, chunks)


def chunk_count(conn: psycopg.Connection[Any], chunks: sql.Composable = GOLDEN_CHUNKS) -> tuple[int, int]:
    """(chunks, chunks with an embedding)."""
    # {}: parameters (none), so an escaped `where` reads as written
    row = conn.execute(sql.SQL("SELECT count(*), count(embedding) FROM {} ch").format(chunks), {}).fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), int(row[1])


def absent_chunks(
    conn: psycopg.Connection[Any], ids: Sequence[str], chunks: sql.Composable = GOLDEN_CHUNKS
) -> set[str]:
    """The chunk ids among ``ids`` that ``chunks`` does not hold (an expected chunk removed since)."""
    statement = sql.SQL(
        "SELECT t.id FROM unnest(%(ids)s::text[]) AS t(id) WHERE NOT EXISTS (SELECT 1 FROM {} ch WHERE ch.id::text = t.id)"
    ).format(chunks)
    return {row[0] for row in conn.execute(statement, {"ids": list(ids)}).fetchall()}


def vector_search(
    conn: psycopg.Connection[Any],
    embeddings: np.ndarray,
    texts: Sequence[str],
    depth: int,
    *,
    ef_search: int = 100,
    ts_config: str = "english",
    tsquery: TsqueryMode = "or",
    use_index: bool = True,
    chunks: sql.Composable = GOLDEN_CHUNKS,
) -> list[list[Hit]]:
    """Top ``depth`` chunks by cosine similarity for each query embedding.

    ``use_index``: search through the HNSW index (approximate, as production does on large tables;
    sequential scans are disabled for the statement, since the planner prefers an exact scan on
    small tables); False: exact nearest neighbours (sequential scan + sort).
    """
    if len(embeddings) == 0:
        return []
    ef = max(int(ef_search), int(depth))
    conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
    conn.execute(f"SET LOCAL enable_seqscan = {'off' if use_index else 'on'}")
    conn.execute(f"SET LOCAL enable_indexscan = {'on' if use_index else 'off'}")
    statement = sql.SQL(
        f"""
        SELECT q.ord, c.id::text, 1 - c.dist, c.title_match, c.content_type
        FROM unnest(%(embs)s::vector[], %(texts)s::text[]) WITH ORDINALITY AS q(emb, qtext, ord)
        CROSS JOIN LATERAL (
            SELECT ch.id, ch.embedding <=> q.emb AS dist, ch.content_type,
                   coalesce(to_tsvector(%(cfg)s::regconfig, ch.section_title)
                            @@ {_tsquery_sql(tsquery, "%(cfg)s", "q.qtext")}, false) AS title_match
            FROM {{chunks}} ch
            WHERE ch.embedding IS NOT NULL
            ORDER BY ch.embedding <=> q.emb
            LIMIT %(depth)s
        ) c
        ORDER BY q.ord, c.dist, c.id DESC
    """
    ).format(chunks=chunks)
    rows = conn.execute(
        statement,
        {
            "embs": list(np.asarray(embeddings, dtype=np.float32)),
            "texts": list(texts),
            "cfg": ts_config,
            "depth": depth,
        },
    ).fetchall()
    conn.execute("SET LOCAL enable_seqscan = on")
    conn.execute("SET LOCAL enable_indexscan = on")
    return _group(rows, len(embeddings))


def fulltext_search(
    conn: psycopg.Connection[Any],
    texts: Sequence[str],
    depth: int,
    *,
    ts_config: str = "english",
    tsquery: TsqueryMode = "or",
    normalization: int = 0,
    chunks: sql.Composable = GOLDEN_CHUNKS,
) -> list[list[Hit]]:
    """Top ``depth`` chunks by ``ts_rank_cd`` among those matching each query's tsquery (GIN index)."""
    if not texts:
        return []
    # OFFSET 0: the planner would pull the one-row subquery up and parse the question into its tsquery again for
    # every candidate chunk (the index recheck and ts_rank_cd each); kept apart, it is parsed once a question
    tsq = _tsquery_sql(tsquery, "%(cfg)s", "q.qtext")
    statement = sql.SQL(
        f"""
        SELECT q.ord, c.id::text, c.score, c.title_match, c.content_type
        FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS q(qtext, ord)
        CROSS JOIN LATERAL (SELECT {tsq} AS tsq OFFSET 0) t
        CROSS JOIN LATERAL (
            SELECT ch.id, ts_rank_cd(ch.tsv, t.tsq, %(norm)s) AS score, ch.content_type,
                   coalesce(to_tsvector(%(cfg)s::regconfig, ch.section_title) @@ t.tsq, false) AS title_match
            FROM {{chunks}} ch
            WHERE ch.tsv @@ t.tsq
            ORDER BY ts_rank_cd(ch.tsv, t.tsq, %(norm)s) DESC, ch.id DESC
            LIMIT %(depth)s
        ) c
        ORDER BY q.ord, c.score DESC, c.id DESC
    """
    ).format(chunks=chunks)
    try:
        with conn.transaction():
            conn.execute("SET LOCAL client_min_messages = warning")  # all-stop-word questions would NOTICE
            rows = conn.execute(
                statement, {"texts": list(texts), "cfg": ts_config, "depth": depth, "norm": int(normalization)}
            ).fetchall()
    except psycopg.errors.UndefinedObject as exc:
        raise EvalError(f"retrieval.fulltext_config: unknown text search configuration {ts_config!r}") from exc
    return _group(rows, len(texts))


def _group(rows: list[tuple], n: int) -> list[list[Hit]]:
    out: list[list[Hit]] = [[] for _ in range(n)]
    for ord_, chunk_id, score, title_match, content_type in rows:
        hits = out[int(ord_) - 1]
        hits.append(Hit(chunk_id, float(score), len(hits) + 1, bool(title_match), content_type or ""))
    return out


def rrf_fuse(legs: Sequence[Sequence[Hit]], k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion: score(d) = sum over legs of 1 / (k + rank(d)); ties by chunk id descending."""
    scores: dict[str, float] = {}
    meta: dict[str, Hit] = {}
    for hits in legs:
        for hit in hits:
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + hit.rank)
            meta.setdefault(hit.chunk_id, hit)
    ordered = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return [
        Hit(cid, score, rank, meta[cid].title_match, meta[cid].content_type)
        for rank, (cid, score) in enumerate(ordered, 1)
    ]


def apply_boosts(hits: Sequence[Hit], boosts: Boosts) -> list[Hit]:
    """Add the metadata bonuses to the scores and re-rank (no-op when no boost is set)."""
    if not boosts.active():
        return list(hits)
    scored = sorted(
        ((h.score + boosts.bonus(h), h) for h in hits), key=lambda item: (item[0], item[1].chunk_id), reverse=True
    )
    return [Hit(h.chunk_id, s, rank, h.title_match, h.content_type) for rank, (s, h) in enumerate(scored, 1)]


def load_judgments(
    conn: psycopg.Connection[Any], database: DatabaseParams | None = None
) -> tuple[list[tuple[str, str, str]], dict[str, dict[str, int]]]:
    """[(query id, text, expected behaviour)] in id order, and chunk qrels {query id: {chunk id: relevance}}:
    from ``golden.queries``, or from the application's table when params ``database:`` maps ``queries``."""
    if database is not None and "queries" in database.tables:
        return _mapped_judgments(conn, require_valid(conn, TableMapping.from_params(database), None))
    queries = [
        (qid, text, behavior or "answer")
        for qid, text, behavior in conn.execute(
            "SELECT id, text, expected_behavior->>'behavior' FROM golden.queries ORDER BY id"
        ).fetchall()
    ]
    qrels: dict[str, dict[str, int]] = {}
    for qid, target, relevance in conn.execute(
        "SELECT query_id, target_id::text, relevance FROM golden.query_expected WHERE target_kind = 'chunk'"
    ).fetchall():
        qrels.setdefault(qid, {})[target] = int(relevance)
    return queries, qrels


def _mapped_judgments(
    conn: psycopg.Connection[Any], mapping: TableMapping
) -> tuple[list[tuple[str, str, str]], dict[str, dict[str, int]]]:
    """:func:`load_judgments` from the mapped queries inside their ``where`` (expected results in jsonb)."""
    exprs = sql.SQL(", ").join(mapping.read_expr("queries", f) for f in ("id", "text", "expected_behavior", "expected"))
    # no parameters: the user's `where` is read as written
    rows = conn.execute(select_scoped(mapping, "queries", exprs)).fetchall()
    queries: list[tuple[str, str, str]] = []
    qrels: dict[str, dict[str, int]] = {}
    for qid, text, behavior, expected in sorted(rows, key=lambda r: str(r[0]).encode()):
        queries.append((qid, text, (behavior or {}).get("behavior") or "answer"))
        for hit in (expected or {}).get("chunks", []):
            qrels.setdefault(qid, {})[str(hit["id"])] = int(hit.get("relevance", 1))
    return queries, qrels


__all__ = [
    "Boosts",
    "absent_chunks",
    "GOLDEN_CHUNKS",
    "Hit",
    "apply_boosts",
    "chunk_count",
    "fulltext_chunks",
    "fulltext_search",
    "golden_chunks",
    "load_judgments",
    "mapped_chunks",
    "prepare",
    "rrf_fuse",
    "searched_chunks",
    "missing_fulltext_index",
    "text_search_config",
    "vector_search",
]
