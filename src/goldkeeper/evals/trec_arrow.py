"""TREC qrels and run files read as integer-coded columns with pyarrow (pyarrow's one home in goldkeeper).

pyarrow's CSV reader parses the files (space separated, in C++ threads), and its hash-based
dictionary encoding codes the qids and docnos; the dictionaries are sorted once, so a query's row
and a docno's code are their ranks in byte order, as :func:`goldkeeper.evals.metrics.join.rank_columns`
expects. No Python object is made per line.

This is the fast path only: :func:`read_coded` returns None for anything it does not take as is
(a malformed or non-UTF-8 line, a relevance that is not an integer, a score that is not a finite
number, a document twice for a query that is not evaluated, an empty file; ``rank_columns`` checks
the evaluated ones). The caller then reads the files with the
line-by-line parser, which accepts what trec_eval accepts and names the file and line of an error.
Tabs, runs of blanks and ``#`` comment lines are normalised here first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from goldkeeper.evals.metrics.base import MAX_RELEVANCE
from goldkeeper.evals.metrics.join import Columns
from goldkeeper.fileio import UTF8_BOM

QRELS_COLUMNS = ("qid", "iter", "docno", "rel")
RUN_COLUMNS = ("qid", "q0", "docno", "rank", "score", "runid")
_COMMENT = re.compile(rb"^#[^\n]*\n?", re.MULTILINE)
_STR = pa.string()
_BLANKS = re.compile(rb"[ \t\r\f\v]+")
_EDGES = re.compile(rb"^ | $", re.MULTILINE)


@dataclass(frozen=True)
class CodedFiles:
    """A qrels file and a run file, coded for ``rank_columns``."""

    qids: list[str]
    run: Columns
    qrels: Columns
    n_docs: int
    runid: str


def _without_comments(data: bytes) -> bytes:
    if data.startswith(b"#") or b"\n#" in data:
        return _COMMENT.sub(b"", data)
    return data


def _normalised(data: bytes) -> bytes:
    """One space between fields, no blank edges, no comment lines (line numbers are not kept)."""
    return _without_comments(_EDGES.sub(b"", _BLANKS.sub(b" ", data)))


def _table(data: bytes, names: tuple[str, ...], types: dict[str, pa.DataType]) -> pa.Table:
    return csv.read_csv(
        pa.BufferReader(data),
        read_options=csv.ReadOptions(column_names=list(names), block_size=1 << 24),
        parse_options=csv.ParseOptions(delimiter=" ", quote_char=False, double_quote=False),
        convert_options=csv.ConvertOptions(
            column_types=types, include_columns=list(types), null_values=[], strings_can_be_null=False
        ),
    )


def _read(path: Path, names: tuple[str, ...], types: dict[str, pa.DataType]) -> tuple[pa.Table, str] | None:
    """The file's table (and the last field of its first line), or None when it has no line.

    Files with one space between fields parse as they are; any other file (tabs, runs of blanks,
    CR LF line ends) is normalised and parsed again when the first parse fails.
    """
    # a leading byte order mark skipped, as the line-by-line parser skips it
    data = _without_comments(path.read_bytes().removeprefix(UTF8_BOM))
    if not data or data.isspace():
        return None
    try:
        table = _table(data, names, types)
    except pa.ArrowInvalid:
        data = _normalised(data)
        table = _table(data, names, types)
    newline = data.find(b"\n")
    return table, (data if newline < 0 else data[:newline]).split()[-1].decode("utf-8")


def _sorted_codes(values: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(code per value, the distinct values, rank in byte order per code)."""
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    return encoded.indices.to_numpy().astype(np.int64), dictionary, rank


def _repeated(query: np.ndarray, doc: np.ndarray, n_docs: int) -> bool:
    keys = np.sort(query * n_docs + doc)
    return bool(np.any(keys[1:] == keys[:-1]))


def read_coded(qrels_path: Path, run_path: Path, *, complete: bool = False) -> CodedFiles | None:
    """Both files coded (queries evaluated as by trec_eval, ``-c`` = ``complete``), or None (see the module doc)."""
    try:
        read_qrels = _read(Path(qrels_path), QRELS_COLUMNS, {"qid": _STR, "docno": _STR, "rel": pa.int64()})
        read_run = _read(Path(run_path), RUN_COLUMNS, {"qid": _STR, "docno": _STR, "score": pa.float64()})
    except (OSError, pa.ArrowException, UnicodeDecodeError):
        return None
    if read_qrels is None or read_run is None:
        return None
    qrels, run, runid = read_qrels[0], read_run[0], read_run[1]
    scores = run.column("score").to_numpy()
    if not np.isfinite(scores).all():
        return None
    n_judged = qrels.num_rows
    qid_codes, qid_values, qid_rank = _sorted_codes(
        pa.concat_arrays([qrels.column("qid").combine_chunks(), run.column("qid").combine_chunks()])
    )
    doc_codes, doc_values, doc_rank = _sorted_codes(
        pa.concat_arrays([qrels.column("docno").combine_chunks(), run.column("docno").combine_chunks()])
    )
    n_docs = len(doc_values)
    docs = doc_rank[doc_codes]
    judged = np.bincount(qid_codes[:n_judged], minlength=len(qid_values)) > 0
    retrieved = np.bincount(qid_codes[n_judged:], minlength=len(qid_values)) > 0
    evaluated = judged & (retrieved | complete)
    by_rank = np.argsort(qid_rank)
    chosen = by_rank[evaluated[by_rank]]
    row_of = np.full(len(qid_values), -1, dtype=np.int64)
    row_of[chosen] = np.arange(chosen.size, dtype=np.int64)
    rows = row_of[qid_codes]
    # evaluated queries are checked for a docno twice by rank_columns; here the others, as trec_eval's
    # line-by-line fallback rejects them too
    other = rows < 0
    if other.any() and (
        _repeated(qid_codes[:n_judged][other[:n_judged]], docs[:n_judged][other[:n_judged]], n_docs)
        or _repeated(qid_codes[n_judged:][other[n_judged:]], docs[n_judged:][other[n_judged:]], n_docs)
    ):
        return None
    rel = qrels.column("rel").to_numpy()
    if int(rel.max(initial=0)) > MAX_RELEVANCE:
        return None  # the line-by-line parser names the line
    return CodedFiles(
        qids=qid_values.take(pa.array(chosen)).to_pylist(),
        run=Columns(rows[n_judged:], docs[n_judged:], scores),
        qrels=Columns(rows[:n_judged], docs[:n_judged], rel),
        n_docs=n_docs,
        runid=runid,
    )
