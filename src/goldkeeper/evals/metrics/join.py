"""Join a run with its qrels and rank it, vectorised: integer-coded columns in, a :class:`Ranked` out.

The caller codes queries as output rows (qid byte order) and docnos as their rank in byte order
(``0 .. n_docs - 1``), so every step below is numpy on integers, with no per-query Python objects:

1. the run's entries are scattered into padded ``n x depth`` matrices (docno rank, score);
2. each row is sorted by docno rank; a batched binary search over the rows finds each judged
   document, which gives every retrieved document its judgment;
3. a stable sort of each reversed row by score descending gives trec_eval's ranking (ties by docno
   descending).

Scores are compared as doubles (trec_eval 10; ``-0.0`` ties with ``0.0``). Large temporaries are
reused in place where they can be: touching fresh memory is a real part of the cost at 10M entries.
:func:`build_ranked` codes ``{qid: {docno: score}}`` dicts this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, count, repeat
from operator import methodcaller

import numpy as np

from goldkeeper.evals.metrics.base import NONPOOL, PAD, RELEVANCE_LEVEL, UNJUDGED, Qrels, Ranked, Run

_values = methodcaller("values")


@dataclass(frozen=True)
class Columns:
    """One side of the join, integer coded: output row, docno rank, and the value (score or relevance)."""

    row: np.ndarray
    doc: np.ndarray
    value: np.ndarray


class DuplicateDocument(ValueError):
    """A docno occurs twice for one query on one side (``rank_columns(check_duplicates=True)``)."""


def rank_columns(
    qids: list[str],
    run: Columns,
    qrels: Columns,
    n_docs: int,
    *,
    level: int = RELEVANCE_LEVEL,
    check_duplicates: bool = False,
) -> Ranked:
    """The :class:`Ranked` matrix of ``qids`` (row i = qids[i]); run values are scores, qrels values relevance.

    Entries whose row is outside ``0 .. len(qids) - 1`` are ignored (queries not evaluated). A docno
    must occur once per query on each side: ``check_duplicates`` raises :class:`DuplicateDocument`
    otherwise (dicts cannot hold one twice).
    """
    n = len(qids)
    qrels = _keep_rows(qrels, n)
    rel_levels = _rel_levels(n, qrels, level)
    run = _keep_rows(run, n)
    counts = np.bincount(run.row, minlength=n).astype(np.int64)
    depth = int(counts.max(initial=0))
    if depth == 0:
        return Ranked(qids, np.full((n, 0), PAD, dtype=np.int64), counts, rel_levels, level)
    docs, scores = _padded(n, depth, run, counts, n_docs)
    by_doc = _flat(np.argsort(docs, axis=1))
    docs = docs.ravel()[by_doc]
    scores = scores.ravel()[by_doc]
    del by_doc
    if check_duplicates and (_neighbours_equal(docs, n_docs) or _repeated(qrels.row * (n_docs + 1) + qrels.doc)):
        raise DuplicateDocument("a document occurs twice for one query")
    rel = _judge(docs, qrels, n_docs)
    order = _flat(_ranking(scores))
    return Ranked(qids, rel.ravel()[order], counts, rel_levels, level)


def _neighbours_equal(docs: np.ndarray, n_docs: int) -> bool:
    """Whether a docno-sorted row holds one docno twice."""
    return bool(np.any((docs[:, 1:] == docs[:, :-1]) & (docs[:, 1:] < n_docs)))


def _repeated(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return bool(np.any(ordered[1:] == ordered[:-1]))


def _flat(order: np.ndarray) -> np.ndarray:
    """Row-wise column indices -> indices into the raveled matrix (in place)."""
    order += (np.arange(order.shape[0], dtype=order.dtype) * order.shape[1])[:, None]
    return order


def _keep_rows(side: Columns, n: int) -> Columns:
    keep = (side.row >= 0) & (side.row < n)
    if keep.all():
        return side
    return Columns(side.row[keep], side.doc[keep], side.value[keep])


def _rel_levels(n: int, qrels: Columns, level: int) -> np.ndarray:
    """Judged documents per (query, relevance level >= 0)."""
    values = qrels.value.astype(np.int64, copy=False)
    judged = values >= 0
    width = max(int(values.max(initial=0)), level) + 1
    flat = np.bincount(qrels.row[judged] * width + values[judged], minlength=n * width)
    return flat.reshape(n, width).astype(np.int64, copy=False)


def _padded(n: int, depth: int, run: Columns, counts: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(docno rank, score) matrices, one row per query; padding = n_docs / nan."""
    rows = run.row
    if rows.size > 1 and np.any(rows[1:] < rows[:-1]):
        order = np.argsort(rows, kind="stable")
        run = Columns(rows[order], run.doc[order], run.value[order])
        rows = run.row
    scores = np.asarray(run.value, dtype=np.float64)
    if np.isnan(scores).any():  # files reject nan; in dicts it ranks last (trec_eval's order is undefined)
        scores = np.where(np.isnan(scores), -np.inf, scores)
    if rows.size == n * depth:  # every query has depth documents: the columns are the matrix
        return run.doc.reshape(n, depth), scores.reshape(n, depth)
    flat = np.arange(rows.size, dtype=np.int64) + (rows * depth - (np.cumsum(counts) - counts)[rows])
    docs = np.full(n * depth, n_docs, dtype=np.int64)
    docs[flat] = run.doc
    padded = np.full(n * depth, np.nan, dtype=np.float64)
    padded[flat] = scores
    return docs.reshape(n, depth), padded.reshape(n, depth)


def _find(docs: np.ndarray, rows: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched binary search: the column of ``targets[i]`` in the sorted row ``docs[rows[i]]``, and whether found."""
    depth = docs.shape[1]
    flat = docs.ravel()
    position = rows * depth
    size = depth
    while size > 1:
        half = size // 2
        position = np.where(flat[position + half] < targets, position + half, position)
        size -= half
    position = position + (flat[position] < targets)
    column = np.minimum(position - rows * depth, depth - 1)
    return column, flat[rows * depth + column] == targets


def _judge(docs: np.ndarray, qrels: Columns, n_docs: int) -> np.ndarray:
    """The judgment of each document of the docno-sorted rows (NONPOOL / UNJUDGED / PAD coded)."""
    rel = np.full(docs.shape, NONPOOL, dtype=np.int64)
    rel[docs == n_docs] = PAD
    candidates = (qrels.doc >= 0) & (qrels.doc < n_docs)
    rows, targets, values = qrels.row[candidates], qrels.doc[candidates], qrels.value[candidates]
    column, found = _find(docs, rows, targets)
    values = values.astype(np.int64, copy=False)
    rel[rows[found], column[found]] = np.where(values[found] < 0, UNJUDGED, values[found])
    return rel


def _ranking(scores: np.ndarray) -> np.ndarray:
    """Per row of the docno-ascending matrix: columns by score descending, ties by docno descending.

    ``scores`` (a copy: negated in place) are compared as doubles, so -0.0 ties with 0.0. A stable
    sort of the reversed rows keeps tied documents in docno-descending order; padding (nan) goes last.
    """
    width = scores.shape[1]
    np.negative(scores, out=scores)
    order = np.argsort(scores[:, ::-1], axis=1, kind="stable")
    np.subtract(width - 1, order, out=order)
    return order


def build_ranked(qrels: Qrels, run: Run, *, complete: bool = False, level: int = RELEVANCE_LEVEL) -> Ranked:
    """Join ``{qid: {docno: score}}`` with ``{qid: {docno: rel}}`` into a :class:`Ranked`, queries in qid order.

    Python touches each entry only inside C-level iterators (``chain``, ``map``, ``np.fromiter``):
    one pass collects the scores, one dict pass codes the docnos (first position of each docno),
    and the distinct docnos are sorted once for their byte-order rank.
    """
    qids = sorted(q for q in (qrels if complete else run) if q in qrels)
    if not complete:
        qids = [q for q in qids if q in run]
    n = len(qids)
    retrieved = [run.get(q) or {} for q in qids]
    judged = [qrels[q] for q in qids]
    counts = np.fromiter(map(len, retrieved), dtype=np.int64, count=n)
    qcounts = np.fromiter(map(len, judged), dtype=np.int64, count=n)
    total, qtotal = int(counts.sum()), int(qcounts.sum())
    scores = np.fromiter(chain.from_iterable(map(_values, retrieved)), dtype=np.float64, count=total)
    first: dict[str, int] = {}
    positions = np.fromiter(map(first.setdefault, chain.from_iterable(retrieved), count()), dtype=np.int64, count=total)
    names = sorted(first)
    rank_of = np.zeros(max(total, 1), dtype=np.int64)
    rank_of[np.fromiter(map(first.__getitem__, names), dtype=np.int64, count=len(names))] = np.arange(len(names))
    qpositions = np.fromiter(map(first.get, chain.from_iterable(judged), repeat(-1)), dtype=np.int64, count=qtotal)
    qdocs = np.where(qpositions >= 0, rank_of[np.maximum(qpositions, 0)], -1)
    qvalues = np.fromiter(chain.from_iterable(map(_values, judged)), dtype=np.int64, count=qtotal)
    return rank_columns(
        qids,
        Columns(np.repeat(np.arange(n), counts), rank_of[positions], scores),
        Columns(np.repeat(np.arange(n), qcounts), qdocs, qvalues),
        len(names),
        level=level,
    )
