"""Join a run with its qrels and rank it, vectorised: integer-coded columns in, a :class:`Ranked` out.

The caller codes queries as output rows (qid byte order) and docnos as their rank in byte order
(``0 .. n_docs - 1``), so every step below is numpy on integers, with no per-query Python objects.
The rows are taken in blocks of about 65,536 entries, each block in three steps:

1. its entries are laid out as padded ``rows x depth`` matrices (docno rank, negated score), and a
   plain (SIMD, unstable) argsort of each row by negated score ranks them; only rows holding tied
   scores are then re-sorted by the integer keys ``tie group << bits | n_docs - docno``, which gives
   trec_eval's order (score descending, ties by docno descending) without a stable sort;
2. one sort of the keys ``docno << bits | rank`` per row gives the docno-sorted rows and where each
   docno was ranked (no argsort, no gather);
3. a batched binary search of the sorted rows finds each judged document, whose judgment is written
   at its rank.

Scores are compared as doubles (trec_eval 10; ``-0.0`` ties with ``0.0``). Why blocks: at 10M
entries every full-size temporary is 80 MB of fresh pages, and touching fresh memory costs more
than the sorts; a block's temporaries stay in cache and malloc reuses them. The blocks run in a
few threads (numpy's sorts, takes and ufuncs release the GIL), and the dict path writes the result
over its own scores array. :func:`build_ranked` codes ``{qid: {docno: score}}`` dicts this way.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, count, repeat
from operator import methodcaller

import numpy as np

from goldkeeper.errors import EvalError
from goldkeeper.evals.metrics.base import (
    BLOCK,
    MAX_RELEVANCE,
    NONPOOL,
    PAD,
    RELEVANCE_LEVEL,
    UNJUDGED,
    Qrels,
    Ranked,
    Run,
)

_values = methodcaller("values")
#: threads ranking blocks at once.
WORKERS = min(4, os.cpu_count() or 1)


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
    run = _grouped(_keep_rows(run, n))
    qrels = _grouped(_keep_rows(qrels, n))
    if check_duplicates and _repeated(qrels.row * (n_docs + 1) + qrels.doc):
        raise DuplicateDocument("a document occurs twice for one query")
    counts = np.bincount(run.row, minlength=n).astype(np.int64)
    return _rank(qids, counts, run.doc, run.value, qrels, n_docs, level, check_duplicates=check_duplicates)


def _rank(
    qids: list[str],
    counts: np.ndarray,
    docs: np.ndarray,
    scores: np.ndarray,
    qrels: Columns,
    n_docs: int,
    level: int,
    *,
    doc_map: np.ndarray | None = None,
    own_scores: bool = False,
    check_duplicates: bool = False,
) -> Ranked:
    """:func:`rank_columns` of a run and qrels grouped by row (``counts[i]`` run entries of row i, in row order).

    ``doc_map``: the docno rank of each code in ``docs`` (applied block by block). ``own_scores``:
    ``scores`` is a float64 array of the caller's that may be overwritten (by the result).
    """
    n = len(qids)
    rel_levels = _rel_levels(n, qrels, level)
    depth = int(counts.max(initial=0))
    if depth == 0:
        return Ranked(qids, np.full((n, 0), PAD, dtype=np.int64), counts, rel_levels, level)
    starts = np.concatenate(([0], np.cumsum(counts)))
    qstarts = np.concatenate(([0], np.cumsum(np.bincount(qrels.row, minlength=n))))
    scores = np.asarray(scores, dtype=np.float64)
    if own_scores and scores.size == n * depth and scores.flags.c_contiguous:
        rel = scores.view(np.int64).reshape(n, depth)  # block i reads its scores before writing its rows
    else:
        rel = np.empty((n, depth), dtype=np.int64)

    def block(first: int) -> None:
        last = min(n, first + step)
        run, judged = slice(starts[first], starts[last]), slice(qstarts[first], qstarts[last])
        block_docs = docs[run] if doc_map is None else doc_map[docs[run]]
        block_qrels = Columns(qrels.row[judged] - first, qrels.doc[judged], qrels.value[judged])
        by_doc = _rank_block(counts[first:last], block_docs, scores[run], block_qrels, n_docs, rel[first:last])
        if check_duplicates and _neighbours_equal(by_doc, n_docs):
            raise DuplicateDocument("a document occurs twice for one query")

    step = max(1, BLOCK // depth)
    firsts = range(0, n, step)
    if len(firsts) == 1:
        block(0)
    else:  # numpy's sorts, takes and ufuncs release the GIL: the blocks run side by side
        with ThreadPoolExecutor(min(WORKERS, len(firsts))) as pool:
            for _ in pool.map(block, firsts):
                pass
    return Ranked(qids, rel, counts, rel_levels, level)


def _rank_block(
    counts: np.ndarray, docs: np.ndarray, scores: np.ndarray, qrels: Columns, n_docs: int, out: np.ndarray
) -> np.ndarray:
    """Rank and judge the rows of one block into ``out``; returns the block's docno-sorted rows."""
    docs, negated = _padded(out.shape[0], out.shape[1], counts, docs, scores, n_docs)
    ranked = _ranking(docs, negated, n_docs)
    by_doc, rank = _sorted_by_doc(ranked)
    _judge(by_doc, rank, counts, qrels, n_docs, out)
    return by_doc


def _neighbours_equal(docs: np.ndarray, n_docs: int) -> bool:
    """Whether a docno-sorted row holds one docno twice."""
    return bool(np.any((docs[:, 1:] == docs[:, :-1]) & (docs[:, 1:] < n_docs)))


def _repeated(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return bool(np.any(ordered[1:] == ordered[:-1]))


def _keep_rows(side: Columns, n: int) -> Columns:
    keep = (side.row >= 0) & (side.row < n)
    if keep.all():
        return side
    return Columns(side.row[keep], side.doc[keep], side.value[keep])


def _grouped(side: Columns) -> Columns:
    """The entries ordered by row (a stable sort, only when they are not already)."""
    rows = side.row
    if rows.size > 1 and np.any(rows[1:] < rows[:-1]):
        order = np.argsort(rows, kind="stable")
        return Columns(rows[order], side.doc[order], side.value[order])
    return side


def _rel_levels(n: int, qrels: Columns, level: int) -> np.ndarray:
    """Judged documents per (query, relevance level >= 0)."""
    values = qrels.value.astype(np.int64, copy=False)
    judged = values >= 0
    highest = int(values.max(initial=0))
    if highest > MAX_RELEVANCE:  # the counts below are n x highest (see MAX_RELEVANCE)
        raise EvalError(f"relevance {highest} is above {MAX_RELEVANCE}, the highest level goldkeeper evaluates")
    width = max(highest, level) + 1
    flat = np.bincount(qrels.row[judged] * width + values[judged], minlength=n * width)
    return flat.reshape(n, width).astype(np.int64, copy=False)


def _padded(
    n: int, depth: int, counts: np.ndarray, docs: np.ndarray, scores: np.ndarray, n_docs: int
) -> tuple[np.ndarray, np.ndarray]:
    """(docno rank, negated score) matrices of ``n`` rows; padding = n_docs / nan."""
    docs = docs.astype(np.int64, copy=False)
    negated = np.negative(scores)
    nan = np.isnan(negated)
    if nan.any():  # files reject nan; in dicts it ranks last (trec_eval's order is undefined)
        negated[nan] = np.inf
    if docs.size == n * depth:  # every query has depth documents: the columns are the matrix
        return docs.reshape(n, depth), negated.reshape(n, depth)
    padding = np.arange(depth) >= counts[:, None]
    padded_docs = np.full((n, depth), n_docs, dtype=np.int64)
    padded_docs[~padding] = docs
    padded = np.full((n, depth), np.nan, dtype=np.float64)
    padded[~padding] = negated
    return padded_docs, padded


def _ranking(docs: np.ndarray, negated: np.ndarray, n_docs: int) -> np.ndarray:
    """The docnos of each row in trec_eval's order: score descending, ties by docno descending; padding last.

    A plain (unstable, SIMD) argsort of each row by negated score is followed, only where a row holds
    tied scores, by a sort of the integer keys (tie group << bits | n_docs - docno): a tie group's
    index within its row is below ``depth`` and ``depth * n_docs`` is far below 2**63 for any run that
    fits in memory. Scores are compared as doubles (-0.0 ties with 0.0); padding (nan) sorts last,
    each nan in a group of its own.
    """
    order = np.argsort(negated, axis=1)
    ranked_scores = np.take_along_axis(negated, order, axis=1)
    ranked = np.take_along_axis(docs, order, axis=1)
    same = ranked_scores[:, 1:] == ranked_scores[:, :-1]
    tied = np.flatnonzero(same.any(axis=1))
    if tied.size == ranked.shape[0]:
        _break_ties(ranked, same, n_docs)
    elif tied.size:
        subset = ranked[tied]
        _break_ties(subset, same[tied], n_docs)
        ranked[tied] = subset
    return ranked


def _break_ties(ranked: np.ndarray, same: np.ndarray, n_docs: int) -> None:
    """Reorder each tie group of the ``ranked`` rows by docno descending (in place)."""
    doc_bits = int(n_docs).bit_length()
    keys = np.zeros(ranked.shape, dtype=np.int64)
    np.logical_not(same, out=keys[:, 1:], casting="unsafe")
    np.cumsum(keys, axis=1, out=keys)  # the tie group within the row
    np.left_shift(keys, doc_bits, out=keys)
    keys |= n_docs - ranked
    keys.sort(axis=1)
    keys &= (1 << doc_bits) - 1
    np.subtract(n_docs, keys, out=ranked)


def _sorted_by_doc(ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's docnos sorted, and the rank (column of ``ranked``) each came from.

    One sort of integer keys docno << bits | rank, so no argsort and no gather.
    """
    depth = ranked.shape[1]
    bits = (depth - 1).bit_length()
    keys = np.left_shift(ranked, bits)
    keys |= np.arange(depth, dtype=np.int64)
    keys.sort(axis=1)
    docs = keys >> bits
    keys &= (1 << bits) - 1
    return docs, keys


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


def _judge(
    by_doc: np.ndarray, rank: np.ndarray, counts: np.ndarray, qrels: Columns, n_docs: int, out: np.ndarray
) -> None:
    """The judgment at each rank (NONPOOL / UNJUDGED / PAD coded) into ``out``, from the docno-sorted rows."""
    depth = by_doc.shape[1]
    out.fill(NONPOOL)
    out[np.arange(depth) >= counts[:, None]] = PAD
    candidates = (qrels.doc >= 0) & (qrels.doc < n_docs)
    rows, targets, values = qrels.row[candidates], qrels.doc[candidates], qrels.value[candidates]
    column, found = _find(by_doc, rows, targets)
    rows, values = rows[found], values[found].astype(np.int64, copy=False)
    out[rows, rank[rows, column[found]]] = np.where(values < 0, UNJUDGED, values)


def build_ranked(qrels: Qrels, run: Run, *, complete: bool = False, level: int = RELEVANCE_LEVEL) -> Ranked:
    """Join ``{qid: {docno: score}}`` with ``{qid: {docno: rel}}`` into a :class:`Ranked`, queries in qid order.

    Python touches each entry only inside C-level iterators (``chain``, ``map``, ``np.fromiter``):
    one pass collects the scores, one dict pass codes the docnos (first position of each docno),
    and the distinct docnos are sorted once for their byte-order rank, applied block by block.
    This walk is most of the time at 10M entries, and it holds the GIL throughout (a ``fromiter``
    call runs no bytecode, so it never hands the GIL over): ranking blocks in threads while it
    runs would only queue them behind it, so the blocks start once it is done.
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
    code = np.int32 if total < 2**31 else np.int64
    positions = np.fromiter(map(first.setdefault, chain.from_iterable(retrieved), count()), dtype=code, count=total)
    names = sorted(first)
    rank_of = np.zeros(max(total, 1), dtype=np.int64)
    rank_of[np.fromiter(map(first.__getitem__, names), dtype=np.int64, count=len(names))] = np.arange(len(names))
    qpositions = np.fromiter(map(first.get, chain.from_iterable(judged), repeat(-1)), dtype=np.int64, count=qtotal)
    qdocs = np.where(qpositions >= 0, rank_of[np.maximum(qpositions, 0)], -1)
    qvalues = np.fromiter(chain.from_iterable(map(_values, judged)), dtype=np.int64, count=qtotal)
    qrels_columns = Columns(np.repeat(np.arange(n, dtype=np.int64), qcounts), qdocs, qvalues)
    return _rank(qids, counts, positions, scores, qrels_columns, len(names), level, doc_map=rank_of, own_scores=True)
