"""TREC files (qrels, runs) and trec_eval's text output format.

qrels: ``qid iter docno rel`` per line; run: ``qid Q0 docno rank score runid``
per line (whitespace separated; the rank column is ignored). As in trec_eval 10,
blank lines and lines whose first non-blank character is ``#`` are skipped;
unlike trec_eval, a score that is not a finite number (nan, inf) is an error
naming the file and line. The output is
trec_eval's: ``%-22s\\t%s\\t%.4f`` per measure (integers and strings as is),
per query in qid order with ``-q``, then the summary under ``all``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from goldkeeper.errors import EvalError
from goldkeeper.evals.metrics import Report, evaluate, evaluate_ranked, resolve_measures
from goldkeeper.evals.metrics.base import MAX_RELEVANCE, MIN_RELEVANCE
from goldkeeper.evals.metrics.join import DuplicateDocument, rank_columns
from goldkeeper.fileio import write_text

#: qrels + run size from which pyarrow reads the files: importing pyarrow (and its CSV reader) costs
#: about 0.3 s, more than parsing 2 MB line by line (measured with benchmarks/bench_startup.py).
COLUMNAR_BYTES = 2_000_000


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # the line-by-line parser reports it


def _read_lines(path: Path) -> list[str]:
    try:
        # utf-8-sig: a byte order mark (Windows editors write one) would else be part of the first qid
        return path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise EvalError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise EvalError(f"{path}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x})") from exc


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Parse a qrels file into {qid: {docno: rel}}; duplicates and malformed lines are errors."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(_read_lines(Path(path)), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 4:
            raise EvalError(f"{path}:{number}: a qrels line needs 4 fields (qid iter docno rel), got {len(fields)}")
        qid, _, docno, rel = fields
        try:
            value = int(rel)
        except ValueError as exc:
            raise EvalError(f"{path}:{number}: relevance {rel!r} is not an integer") from exc
        if not MIN_RELEVANCE <= value <= MAX_RELEVANCE:
            raise EvalError(
                f"{path}:{number}: relevance {rel!r} is out of range (the highest level is {MAX_RELEVANCE})"
            )
        docs = qrels.setdefault(qid, {})
        if docno in docs:
            raise EvalError(f"{path}:{number}: duplicate judgment for query {qid} document {docno}")
        docs[docno] = value
    return qrels


def read_run(path: Path) -> tuple[dict[str, dict[str, float]], str]:
    """Parse a run file into ({qid: {docno: score}}, runid)."""
    run: dict[str, dict[str, float]] = {}
    runid = ""
    for number, line in enumerate(_read_lines(Path(path)), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 6:
            raise EvalError(
                f"{path}:{number}: a run line needs 6 fields (qid Q0 docno rank score runid), got {len(fields)}"
            )
        qid, _, docno, _, score, name = fields
        try:
            value = float(score)
        except ValueError as exc:
            raise EvalError(f"{path}:{number}: score {score!r} is not a number") from exc
        if not math.isfinite(value):
            raise EvalError(f"{path}:{number}: score {score!r} is not a finite number")
        docs = run.setdefault(qid, {})
        if docno in docs:
            raise EvalError(f"{path}:{number}: query {qid} retrieves document {docno} twice")
        docs[docno] = value
        runid = runid or name
    return run, runid


def format_report(report: Report, per_query: bool = False) -> str:
    """trec_eval's output for ``report`` (with ``-q``: each query first, then ``all``)."""
    return report.to_trec_eval(per_query=per_query)


def evaluate_files(
    qrels_path: Path, run_path: Path, measures: Iterable[str] | None = None, *, complete: bool = False
) -> Report:
    """Evaluate a TREC run file against a qrels file.

    Files of ``COLUMNAR_BYTES`` and more are read as columns (:mod:`.trec_arrow`); when that fast
    path declines them (an error, an unusual line), and for smaller files, the line-by-line parser
    reads them, and names the file and line of any error.
    """
    chosen = resolve_measures(measures)
    coded = None
    if _size(qrels_path) + _size(run_path) >= COLUMNAR_BYTES:
        from goldkeeper.evals.trec_arrow import read_coded  # noqa: PLC0415 - start-up: pyarrow (below)

        coded = read_coded(qrels_path, run_path, complete=complete)
    if coded is not None:
        try:
            ranked = rank_columns(coded.qids, coded.run, coded.qrels, coded.n_docs, check_duplicates=True)
        except DuplicateDocument:
            pass  # the parser below names the line
        else:
            return evaluate_ranked(ranked, chosen, runid=coded.runid)
    qrels = read_qrels(qrels_path)
    run, runid = read_run(run_path)
    return evaluate(qrels, run, chosen, complete=complete, runid=runid)


def write_qrels(path: Path, qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Write qrels in TREC format, queries and documents sorted."""
    lines = [f"{q} 0 {d} {rel}" for q in sorted(qrels) for d, rel in sorted(qrels[q].items())]
    _write(Path(path), lines)


def write_run(path: Path, run: Mapping[str, Mapping[str, float]], runid: str) -> None:
    """Write a run in TREC format, each query's documents in trec_eval's ranking order."""
    lines = []
    for q in sorted(run):
        ordered = sorted(run[q].items(), key=lambda item: (float(item[1]), item[0]), reverse=True)
        for rank, (doc, score) in enumerate(ordered, 1):
            lines.append(f"{q} Q0 {doc} {rank} {float(score)!r} {runid}")
    _write(Path(path), lines)


def _write(path: Path, lines: list[str]) -> None:
    write_text(path, "".join(line + "\n" for line in lines))
