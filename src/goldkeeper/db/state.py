"""What the database holds: the dataset version and embedding model the last restore wrote.

One row in ``golden.dataset_state`` (goldkeeper's own bookkeeping, never the user's tables), written by
restore and by the importers inside their transaction (so it commits or rolls back with the rows it
describes) and read by ``verify --db`` and the evals, which label their metrics with the version they
measured instead of the working tree's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from goldkeeper.db.connection import connection


@dataclass(frozen=True)
class DatasetState:
    """The row: ``version`` is None when the records came from an import, not from a store."""

    dataset: str | None
    version: str | None
    model_id: str
    source: str | None
    replace: bool
    restored_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "model_id": self.model_id,
            "source": self.source,
            "replace": self.replace,
            "restored_at": self.restored_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }

    def held(self) -> str:
        """What a warning says the database holds; after an import, how to record a version (import, dump,
        then every verify --db and eval warned, unlabelled, with nothing saying what to do)."""
        if self.version:
            return f"dataset version {self.version}"
        return (
            "imported records (no store version: once `goldkeeper dump` wrote them, `goldkeeper restore` "
            "records the store's version, skipping the identical records)"
        )

    def describe(self) -> str:
        """One line for people: ``dataset demo version 1a2b3c4d5e6f (model m, restored at ...)``."""
        what = f"version {self.version[:12]}" if self.version else "records imported (no store version)"
        name = f"dataset {self.dataset} " if self.dataset else ""
        return f"{name}{what} (model {self.model_id}, restored at {self.to_json()['restored_at']})"


def write_dataset_state(
    conn: psycopg.Connection[Any],
    *,
    dataset: str | None,
    version: str | None,
    model_id: str,
    source: str | None,
    replace: bool,
) -> None:
    """Record what the golden tables now hold, in the caller's transaction (the schema exists)."""
    conn.execute(
        """
        INSERT INTO golden.dataset_state (singleton, dataset, version, model_id, source, replace, restored_at)
        VALUES (true, %s, %s, %s, %s, %s, now())
        ON CONFLICT (singleton) DO UPDATE SET dataset = EXCLUDED.dataset, version = EXCLUDED.version,
            model_id = EXCLUDED.model_id, source = EXCLUDED.source, replace = EXCLUDED.replace,
            restored_at = EXCLUDED.restored_at
        """,
        (dataset, version, model_id, source, replace),
    )


def read_dataset_state(conn: psycopg.Connection[Any]) -> DatasetState | None:
    """The row, or None (no golden schema, a schema older than the table, or nothing restored yet)."""
    if conn.execute("SELECT to_regclass('golden.dataset_state')").fetchone() == (None,):
        return None
    row = conn.execute(
        "SELECT dataset, version, model_id, source, replace, restored_at FROM golden.dataset_state"
    ).fetchone()
    return None if row is None else DatasetState(*row)


def dataset_state(url: str) -> DatasetState | None:
    """:func:`read_dataset_state` on its own read-only connection."""
    with connection(url) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        return read_dataset_state(conn)


__all__ = ["DatasetState", "write_dataset_state", "read_dataset_state", "dataset_state"]
