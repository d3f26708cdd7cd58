"""What changed between two versions of the golden store, record by record and field by field.

The result is a :class:`DatasetDiff`: frozen value objects with one tuple per
change kind (``analyses_added``, ``chunks_modified``, ``queries_removed``,
...), plus the *impact* (queries whose expected chunks or analyses were
modified or removed: the test cases a data change touches) and the URL
contract violations the new side introduces.

How it stays fast, and why it never trusts a manifest: every shard of both sides is read and
hashed, but only shards whose bytes differ are parsed (a record lives in the shard its id hashes
to, so equal shard bytes mean equal records). A shard is not even read when its hash is known
otherwise: the same git blob on both sides, or (between directories) a file unchanged since
goldkeeper last hashed it, by its inode, size and change times (:mod:`goldkeeper.store.hash_cache`,
kept in ``home``), so a one-record change in 1,000,000 chunks reads two shards, not 850 MB.
Chunks are matched by id across the changed shards, so a chunk moved to another analysis is a
modification of its ``analysis_id``. The query shards are scanned for impact only when some
chunk or analysis was modified or removed.

A manifest whose sha256 or record count does not match its shard (a shard hand-edited after the
dump), and a shard file the manifest does not list, are reported as ``store_problems``; the diff
compares the bytes it read, so two stores with the same manifest but an edited shard show the
edit. ``goldkeeper fmt`` repairs such a store, ``goldkeeper verify`` checks every contract.

Either side may be ``None`` (no store: everything is added or removed).

Modules: :mod:`.model` (the value objects), :mod:`.fields` (field and word-level changes),
:mod:`.compare` (:func:`diff_stores`), :mod:`.sides` (:func:`open_side`, :func:`diff`),
:mod:`.render` (text, markdown, JSON) and :mod:`.schema` (the JSON format's JSON Schema).
Importing this package imports neither psycopg, numpy nor git: ``goldkeeper diff`` starts fast.
"""

from __future__ import annotations

from goldkeeper.dataset.diff.compare import diff_stores
from goldkeeper.dataset.diff.fields import LONG_TEXT, PREVIEW, field_changes, notpresent, word_diff
from goldkeeper.dataset.diff.model import (
    ACTIONS,
    KINDS,
    SCHEMA_VERSION,
    DatasetDiff,
    FieldChange,
    Impact,
    ImpactReason,
    RecordChange,
    RecordRef,
    Side,
    StoreProblem,
    UrlViolation,
)
from goldkeeper.dataset.diff.sides import WORKTREE, OpenedSide, diff, open_side

__all__ = [
    "SCHEMA_VERSION",
    "KINDS",
    "ACTIONS",
    "LONG_TEXT",
    "PREVIEW",
    "notpresent",
    "FieldChange",
    "RecordRef",
    "RecordChange",
    "ImpactReason",
    "Impact",
    "UrlViolation",
    "StoreProblem",
    "Side",
    "DatasetDiff",
    "word_diff",
    "field_changes",
    "diff_stores",
    "OpenedSide",
    "open_side",
    "diff",
    "WORKTREE",
]
