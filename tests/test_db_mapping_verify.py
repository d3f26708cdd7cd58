"""``verify --db`` through params ``database:`` (issue 12): counts, embeddings and content of the application's
own tables against the store; an UPDATE in the application's table is named by record, chunk and field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database, restored_app
from embed_command_support import write_program
from goldkeeper.config import Settings, validate_settings
from goldkeeper.dataset.verify import VerifyReport, verify_database
from goldkeeper.embed import Embedder

DIM = 24
NO_PROMPTS = {"min_prompts": 0, "min_domains": 0}
PLACE = "database app.documents"
CHUNKS = "database app.doc_chunks"  # a chunk row's issues name the chunks' table
CHUNK = str(uuid.UUID(int=100 + 10 * 1 + 0))  # DOC[1]'s first chunk


@pytest.fixture
def restored(database_url: str, second_database: str, tmp_path: Path) -> tuple[str, Path, Settings, Embedder]:
    """The application database dumped to a store, restored into a second, empty application database."""
    settings, embedder = restored_app(database_url, second_database, tmp_path, DIM)
    return second_database, tmp_path / "golden", settings, embedder


def run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url) as conn:
        for statement in statements:
            conn.execute(statement)


def errors(report: VerifyReport) -> list[tuple[str, str | None, str | None, str | None]]:
    return sorted((i.code, i.file, i.record_id, i.field) for i in report.errors)


def test_a_restored_application_database_verifies_record_by_record(
    restored: tuple[str, Path, Settings, Embedder],
) -> None:
    url, store, settings, embedder = restored
    report = verify_database(url, store, settings, embedder)
    assert report.issues == (), report.to_text()
    assert dict(report.checked) == {
        "db analyses": 2,
        "db artifacts": 1,
        "db chunks": 4,
        "db findings": 2,
        "db queries": 0,
        "db records compared": 2,
    }


def test_an_updated_chunk_body_in_the_application_table_is_named(
    restored: tuple[str, Path, Settings, Embedder],
) -> None:
    url, store, settings, embedder = restored
    run_sql(url, f"UPDATE app.doc_chunks SET body = body || ' (edited)' WHERE chunk_id = '{CHUNK}'")
    report = verify_database(url, store, settings, embedder)
    field = f"chunks[{CHUNK}].content"
    assert errors(report) == [("db.content", PLACE, DOC[1], field)]
    assert field in report.errors[0].message and "canonical hash" in report.errors[0].message


def test_an_updated_analysis_url_breaks_content_and_the_url_contract(
    restored: tuple[str, Path, Settings, Embedder],
) -> None:
    url, store, settings, embedder = restored
    run_sql(url, f"UPDATE app.documents SET source_url = 'https://example.com/TODO' WHERE doc_id = '{DOC[0]}'")
    report = verify_database(url, store, settings, embedder)
    assert errors(report) == [("db.content", PLACE, DOC[0], "url"), ("url.placeholder", PLACE, DOC[0], "url")]


def test_counts_and_embeddings_of_the_scope_are_checked(restored: tuple[str, Path, Settings, Embedder]) -> None:
    url, store, settings, embedder = restored
    run_sql(
        url,
        # outside the where: not the dataset's, never reported
        "INSERT INTO app.documents VALUES ('draft-1', 'https://docs.test/d', 'Draft', 'draft', now())",
        f"UPDATE app.doc_chunks SET emb = NULL WHERE chunk_id = '{CHUNK}'",
        f"UPDATE app.doc_chunks SET emb_model = 'old/model' WHERE doc_id = '{DOC[0]}'",
        f"UPDATE app.documents SET state = 'draft' WHERE doc_id = '{DOC[0]}'",
    )
    report = verify_database(url, store, settings, embedder)
    codes = [(i.code, i.field) for i in report.errors]
    assert ("db.chunk_not_embedded", "embedding") in codes
    assert not any(c == "db.embedding_model" for c, _ in codes)  # DOC[0] left the scope with its chunks
    assert ("db.record_missing", None) in codes
    counts = {i.field: i.message for i in report.errors if i.code == "db.count"}
    assert set(counts) == {"analyses", "artifacts", "chunks"}
    assert (
        "holds 1 analyses (analyses inside database.tables.analyses.where), the manifest lists 2" in counts["analyses"]
    )
    unembedded = next(i for i in report.errors if i.code == "db.chunk_not_embedded")
    assert CHUNK in unembedded.message and unembedded.file == CHUNKS


def test_another_model_and_dimension_are_reported(restored: tuple[str, Path, Settings, Embedder]) -> None:
    url, store, settings, embedder = restored
    run_sql(url, f"UPDATE app.doc_chunks SET emb_model = 'old/model' WHERE doc_id = '{DOC[1]}'")
    other: Any = type("Identity", (), {"model_id": embedder.model_id, "dim": DIM + 1})()
    report = verify_database(url, store, settings, other)
    assert {i.file for i in report.errors} == {CHUNKS}
    messages = [i.message for i in report.errors if i.code == "db.embedding_dim"]
    assert "the embedding column is vector(24), the configured model has 25 dimensions" in messages
    assert "4 chunk(s) have 24-dimensional embeddings, the configured model has 25" in messages[1]
    report = verify_database(url, store, settings, embedder)
    assert [(i.code, i.file) for i in report.errors] == [("db.embedding_model", CHUNKS)]
    assert "2 chunk(s) embedded with old/model" in report.errors[0].message


def test_verify_db_command_uses_the_mapping(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = write_program(project, DIM)
    params = {
        "database": MAPPING,
        "embedding": {"provider": program, "model": "team/app-embedder", "dimensions": DIM},
        "rubric": NO_PROMPTS,
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    app_database(database_url, dim=DIM)
    assert run_cli(["--database-url", database_url, "dump"], capsys)[0] == 0
    code, out, err = run_cli(["--database-url", database_url, "verify", "--db", "--json"], capsys)
    assert code != 0  # the application's chunks were never embedded
    found = {(i["code"], i["file"]) for i in json.loads(out)["issues"]}
    assert ("db.chunk_not_embedded", CHUNKS) in found
    assert not any(c == "db.content" for c, _ in found)
    assert run_cli(["--database-url", database_url, "restore"], capsys)[0] == 0  # fills the vectors
    code, out, err = run_cli(["--database-url", database_url, "verify", "--db"], capsys)
    assert code == 0, out + err


def test_a_row_the_dump_cannot_read_fails_verify(restored: tuple[str, Path, Settings, Embedder]) -> None:
    """A NULL in a required column (or two chunks at one index) makes the record unreadable: ``dump`` refuses
    it, so ``verify --db`` must not call the database valid."""
    url, store, settings, embedder = restored
    run_sql(
        url,
        "ALTER TABLE app.documents ALTER COLUMN name DROP NOT NULL",
        f"UPDATE app.documents SET name = NULL WHERE doc_id = '{DOC[1]}'",
    )
    report = verify_database(url, store, settings, embedder)
    assert errors(report) == [("db.record_invalid", PLACE, DOC[1], "name")], report.to_text()
    assert "Input should be a valid string" in report.errors[0].message


def test_an_orphan_finding_names_the_findings_table(restored: tuple[str, Path, Settings, Embedder]) -> None:
    """A mapped child's orphan was placed under the analyses' table (``database app.documents.findings``), and
    was not found at all when the child's column has the analyses' id column's name (both ``doc_id``: inside the
    NOT EXISTS, the unqualified name meant the analyses' own column)."""
    url, store, settings, embedder = restored
    mapping = json.loads(json.dumps(MAPPING))
    mapping["tables"]["findings"]["declared_foreign_key"] = True  # the orphan needs the FOREIGN KEY gone
    settings = validate_settings(
        {"root": store.parent, "database": mapping, "embedding": settings.embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    run_sql(
        url,
        "ALTER TABLE app.notes DROP CONSTRAINT notes_doc_id_fkey",
        f"INSERT INTO app.notes VALUES ('{uuid.UUID(int=77)}', 0, 'bot', 'style', 'lost')",
    )
    report = verify_database(url, store, settings, embedder)
    orphans = [(i.code, i.file) for i in report.errors if i.code.startswith("db.orphan")]
    assert orphans == [("db.orphan_finding", "database app.notes")], report.to_text()
