"""The former home of the COPY readers and the staged loader, kept only as re-exports.

The code lives in :mod:`goldkeeper.db.reader` (dump's COPY streams) and
:mod:`goldkeeper.db.loader` (restore's staged loads). goldkeeper itself and its
tests import those; ``benchmarks/bench_memory.py`` still imports this module.
"""

from __future__ import annotations

from goldkeeper.db.loader import Changes, GoldenLoader, analysis_rows, golden_transaction, query_rows
from goldkeeper.db.reader import golden_reader, iter_analyses, iter_queries

__all__ = [
    "golden_reader",
    "iter_analyses",
    "iter_queries",
    "analysis_rows",
    "query_rows",
    "Changes",
    "GoldenLoader",
    "golden_transaction",
]
