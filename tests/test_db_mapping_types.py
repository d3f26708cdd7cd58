"""Column types of the application's tables that ORMs create by default: ``timestamp(3)`` (Prisma's DateTime)
and enum columns. Each is read without loss and written back so that dump -> restore -> dump is byte-identical;
a value the column cannot hold is refused at restore, naming it, before anything is written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db_mapping_support import DOC, MAPPING, app_database
from embed_command_support import write_program
from golden_support import store_bytes
from goldkeeper.config import EmbeddingParams, validate_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.db.catalogue import read_catalogue
from goldkeeper.db.mapping_check import check_database
from goldkeeper.db.mapping_infer import infer_mapping
from goldkeeper.embed import Embedder, load_embedder
from goldkeeper.errors import DataIntegrityError
from goldkeeper.store import open_store

DIM = 24
NO_PROMPTS = {"min_prompts": 0, "min_domains": 0}


def _setup(tmp_path: Path) -> tuple[Any, Embedder]:
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings(
        {"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    return settings, embedder


def _run(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.parametrize("column", ["timestamp(3) without time zone", "timestamp(3) with time zone"])
def test_a_timestamp_of_precision_3_round_trips_and_a_finer_value_is_refused(
    database_url: str, second_database: str, tmp_path: Path, column: str
) -> None:
    """db check refused ``timestamp(3)`` (lossy); the store holds microseconds, so every millisecond value
    reads exactly, and only a restored value finer than the column is a problem: named, never rounded."""
    settings, embedder = _setup(tmp_path)
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    for url in (database_url, second_database):
        _run(url, f"ALTER TABLE app.documents ALTER COLUMN published_at TYPE {column}")
    _run(database_url, "UPDATE app.documents SET published_at = published_at + interval '0.123 seconds'")
    assert check_database(database_url, settings.database, DIM).problems == ()
    inferred = infer_mapping(read_catalogue(database_url)).to_params()["tables"]["analyses"]["columns"]
    assert inferred["created_at"] == "published_at"

    dump(database_url, settings, tmp_path / "one")
    assert [a.created_at.microsecond for a in open_store(tmp_path / "one").analyses()] == [123000, 123000]
    restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    dump(second_database, settings, tmp_path / "two")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "two")

    # a store holding microseconds (from a timestamp(6) column) does not fit: refused, nothing written
    finer = column.replace("(3)", "(6)")
    _run(
        database_url,
        f"ALTER TABLE app.documents ALTER COLUMN published_at TYPE {finer}",
        f"UPDATE app.documents SET published_at = published_at + interval '0.000456 seconds' WHERE doc_id = '{DOC[1]}'",
    )
    dump(database_url, settings, tmp_path / "three")
    message = (
        re.escape(f"analysis {DOC[1]}: created_at 2024-02-02T")
        + r"\d\d"
        + re.escape(
            f":00:00.123456Z has more precision than app.documents.published_at ({column}) holds (it would be "
            "rounded); nothing was changed"
        )
    )  # the hour: the server's time zone read the timestamp literal (UTC in the store)
    with pytest.raises(DataIntegrityError, match=message):
        restore_store(second_database, tmp_path / "three", embedder, settings=settings, replace=True)
    dump(second_database, settings, tmp_path / "four")
    assert store_bytes(tmp_path / "four") == store_bytes(tmp_path / "one")


ENUMS = """
CREATE TYPE app.doc_state AS ENUM ('draft', 'published', 'archived');
CREATE TYPE app."Note Kind" AS ENUM ('accuracy', 'style');
ALTER TABLE app.documents ALTER COLUMN state DROP DEFAULT;
ALTER TABLE app.documents ALTER COLUMN state TYPE app.doc_state USING state::app.doc_state;
ALTER TABLE app.notes ALTER COLUMN kind TYPE app."Note Kind" USING kind::app."Note Kind";
"""


def test_enum_columns_read_as_text_and_restore_cast_to_their_type(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    """An enum column (a status, a category) was refused ("app.doc_state cannot hold analyses.status (text)
    without loss"): its labels are text, read as such and written back cast to the enum; a label the enum
    lacks is named (record, field, value, column and its labels) before anything is written."""
    settings, embedder = _setup(tmp_path)
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    for url in (database_url, second_database):
        _run(url, ENUMS)
    assert check_database(database_url, settings.database, DIM).problems == ()
    inferred = infer_mapping(read_catalogue(database_url)).to_params()["tables"]["analyses"]["columns"]
    assert inferred["status"] == "state"

    dump(database_url, settings, tmp_path / "one")
    assert [a.status for a in open_store(tmp_path / "one").analyses()] == ["published", "published"]
    restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    dump(second_database, settings, tmp_path / "two")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "two")
    with psycopg.connect(second_database) as conn:
        assert conn.execute("SELECT pg_typeof(state)::text, state::text FROM app.documents LIMIT 1").fetchone() == (
            "app.doc_state",
            "published",
        )

    # a label the target's enum lacks: named, nothing written
    _run(
        database_url,
        "ALTER TABLE app.notes ALTER COLUMN kind TYPE text",
        f"UPDATE app.notes SET kind = 'tone' WHERE doc_id = '{DOC[1]}' AND pos = 1",
    )
    dump(database_url, settings, tmp_path / "three")
    message = (
        f"finding {DOC[1]}#1: category 'tone' is not a value of app.notes.kind "
        """(enum app."Note Kind": 'accuracy', 'style'); nothing was changed"""
    )
    with pytest.raises(DataIntegrityError, match=re.escape(message)):
        restore_store(second_database, tmp_path / "three", embedder, settings=settings, replace=True)
    dump(second_database, settings, tmp_path / "four")
    assert store_bytes(tmp_path / "four") == store_bytes(tmp_path / "one")
