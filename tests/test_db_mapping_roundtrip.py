"""Issue 12's done-when: an application schema unlike goldkeeper's, mapped; dump -> restore --replace into a
second empty application database -> dump is byte-identical, with the vectors in the user's embedding column."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database
from embed_command_support import write_program
from golden_support import make_query, make_records, store_bytes
from goldkeeper.config import EmbeddingParams, validate_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.dataset.verify import verify_database
from goldkeeper.db.catalogue import read_catalogue
from goldkeeper.db.mapping_infer import infer_mapping
from goldkeeper.db.search import chunk_count, searched_chunks
from goldkeeper.embed import load_embedder
from goldkeeper.errors import ConflictError, DataIntegrityError, GoldkeeperError
from goldkeeper.store import open_store

DIM = 24  # another dimension than goldkeeper's vendored model (384): the command provider
NO_PROMPTS = {"min_prompts": 0, "min_domains": 0}  # the queries live in goldkeeper's own tables: none here


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'golden') ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_dump_restore_replace_dump_through_a_mapping_is_byte_identical(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings(
        {"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    with psycopg.connect(second_database, autocommit=True) as conn:  # outside the where: never touched
        conn.execute("INSERT INTO app.documents VALUES ('draft-1', 'https://docs.test/d', 'Draft', 'draft', now())")

    first = dump(database_url, settings, tmp_path / "one")
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert report.analyses.added == tuple(DOC[:2]) and report.chunks_embedded == 4
    second = dump(second_database, settings, tmp_path / "two")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "two")
    assert first.version == second.version

    with psycopg.connect(second_database) as conn:
        assert conn.execute("SELECT name, state FROM app.documents WHERE doc_id = 'draft-1'").fetchone() == (
            "Draft",
            "draft",
        )
        vectors = conn.execute("SELECT vector_dims(emb), emb_model FROM app.doc_chunks").fetchall()
        assert vectors == [(DIM, embedder.model_id)] * 4
        assert conn.execute("SELECT path FROM app.doc_chunks ORDER BY chunk_id").fetchall() == [
            ("",),
            ("Part A > Intro",),
            ("",),
            ("Part A > Intro",),
        ]
    assert _tables(second_database) == ["app.doc_chunks", "app.documents", "app.notes", "app.summaries"]

    # a changed chunk is replaced (only inside the where), and the next dump gives the store back
    with psycopg.connect(second_database, autocommit=True) as conn:
        conn.execute("UPDATE app.doc_chunks SET body = 'edited' WHERE doc_id = %s AND ord = 0", (DOC[1],))
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert report.analyses.replaced == (DOC[1],) and report.analyses.skipped == (DOC[0],)
    assert report.analyses.removed == ()  # the draft is outside the scope
    dump(second_database, settings, tmp_path / "three")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "three")


def test_a_path_part_holding_the_separator_refuses_the_restore(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings(
        {"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    dump(database_url, settings, tmp_path / "one")  # section_path ["Part A", "Intro"]: "Part A" holds a space
    other = validate_settings(
        {
            "root": tmp_path,
            "database": {
                **MAPPING,
                "tables": {
                    **MAPPING["tables"],
                    "chunks": {**MAPPING["tables"]["chunks"], "separators": {"section_path": " "}},
                },
            },
            "embedding": embedding.model_dump(),
            "rubric": NO_PROMPTS,
        }
    )
    with pytest.raises(DataIntegrityError, match="cannot be stored as text with separator ' '"):
        restore_store(second_database, tmp_path / "one", embedder, settings=other, replace=True)
    with psycopg.connect(second_database) as conn:
        assert conn.execute("SELECT count(*) FROM app.documents").fetchone() == (0,)


def test_queries_live_in_goldkeepers_schema_and_point_at_the_mapped_chunks(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings({"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump()})
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    analyses = list(open_store(dump(database_url, settings, tmp_path / "one").path).analyses())
    queries = [make_query(i, a) for i, a in enumerate(analyses)]
    report = restore_records(second_database, analyses, queries, embedder, database=settings.database)
    assert report.queries.added == ("q-0000", "q-0001") and report.analyses.added == tuple(DOC[:2])
    dumped = list(open_store(dump(second_database, settings, tmp_path / "two").path).queries())
    assert sorted(dumped, key=lambda q: q.id) == [q.canonical() for q in queries]
    with psycopg.connect(second_database) as conn:  # goldkeeper's rows in its own schema, not in app
        assert conn.execute("SELECT count(*) FROM golden.queries").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (0,)

    lost = make_query(
        9,
        analyses[0].model_copy(
            update={"chunks": [analyses[1].chunks[0].model_copy(update={"id": uuid.UUID(int=4242)})]}
        ),
    )
    with pytest.raises(DataIntegrityError, match="point at chunks/analyses that would not exist"):
        restore_records(second_database, analyses, [*queries, lost], embedder, database=settings.database)


def test_dry_run_conflicts_and_a_failed_embedding_change_nothing(
    database_url: str, second_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings(
        {"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    dump(database_url, settings, tmp_path / "one")

    def rows() -> list[tuple[object, ...]]:
        with psycopg.connect(second_database) as conn:
            return conn.execute(
                "SELECT d.doc_id, d.name, c.chunk_id, c.body, c.emb IS NULL FROM app.documents d "
                "LEFT JOIN app.doc_chunks c USING (doc_id) ORDER BY 1, 3"
            ).fetchall()

    dry = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True, dry_run=True)
    assert dry.analyses.added == tuple(DOC[:2]) and rows() == []

    monkeypatch.setenv("FAKE_EMBED_FAIL", "1")
    with pytest.raises(GoldkeeperError, match="CUDA out of memory"):
        restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    assert rows() == []
    monkeypatch.delenv("FAKE_EMBED_FAIL")

    restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    before = rows()
    assert len(before) == 4 and not any(r[4] for r in before)
    with psycopg.connect(second_database, autocommit=True) as conn:
        conn.execute("UPDATE app.documents SET name = 'renamed' WHERE doc_id = %s", (DOC[0],))
    with pytest.raises(ConflictError, match=f"analysis {DOC[0]}"):
        restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    dry = restore_store(second_database, tmp_path / "one", embedder, settings=settings, dry_run=True)
    assert dry.analyses.conflicts == (DOC[0],)
    assert [r[1] for r in rows()] == ["renamed", "renamed", "Doc 1", "Doc 1"]


def test_dump_and_restore_commands_use_the_mapping(
    database_url: str,
    second_database: str,
    project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    program = write_program(project, DIM)
    params = {
        "database": MAPPING,
        "embedding": {"provider": program, "model": "team/app-embedder", "dimensions": DIM},
        "rubric": NO_PROMPTS,
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    assert run_cli(["--database-url", database_url, "dump"], capsys)[0] == 0
    code, out, err = run_cli(["--database-url", second_database, "restore", "--replace", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["analyses"]["added"] == DOC[:2]
    assert run_cli(["--database-url", second_database, "dump", "--out", "again"], capsys)[0] == 0
    assert store_bytes(project / "golden") == store_bytes(project / "again")


def test_records_the_mapping_cannot_hold_are_refused_not_lost(second_database: str, tmp_path: Path) -> None:
    embedder = load_embedder(
        EmbeddingParams(provider=write_program(tmp_path, DIM), model="m", dimensions=DIM), root=tmp_path
    )
    database = validate_settings({"root": tmp_path, "database": MAPPING}).database
    app_database(second_database, rows=False, dim=DIM)
    analysis = make_records(1)[0][0]
    assert analysis.chunks[0].content_type == "text"
    table = analysis.model_copy(update={"chunks": [analysis.chunks[0].model_copy(update={"content_type": "table"})]})
    with pytest.raises(DataIntegrityError, match=r"chunks have a content_type .*columns.content_type is not mapped"):
        restore_records(second_database, [table], [], embedder, database=database)
    without_findings = {**MAPPING, "tables": {k: v for k, v in MAPPING["tables"].items() if k != "findings"}}
    database = validate_settings({"root": tmp_path, "database": without_findings}).database
    with pytest.raises(DataIntegrityError, match=r"findings, but database.tables.findings is not mapped"):
        restore_records(second_database, [analysis], [], embedder, database=database)
    with psycopg.connect(second_database) as conn:
        assert conn.execute("SELECT count(*) FROM app.documents").fetchone() == (0,)


def test_a_where_holding_percent_signs_is_read_as_written(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    """``LIKE 'a%'`` in a where: psycopg reads ``%`` as a placeholder in a statement run with parameters."""
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    tables = MAPPING["tables"]
    percent = {
        **MAPPING,
        "tables": {
            **tables,
            "analyses": {**tables["analyses"], "where": "state = 'published' AND source_url LIKE 'https://docs.%'"},
            "chunks": {**tables["chunks"], "where": "body LIKE 'text %' AND strpos(body, '%') = 0"},
        },
    }
    settings = validate_settings(
        {"root": tmp_path, "database": percent, "embedding": embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    with psycopg.connect(database_url, autocommit=True) as conn:  # a chunk outside the chunks' where
        conn.execute(
            "INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord) VALUES (%s, %s, '100%% sure', 5)",
            (str(uuid.UUID(int=555)), DOC[0]),
        )
    first = dump(database_url, settings, tmp_path / "one")
    assert first.counts["chunks"] == 4
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert report.analyses.added == tuple(DOC[:2]) and report.chunks_embedded == 4
    dump(second_database, settings, tmp_path / "two")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "two")
    verified = verify_database(second_database, tmp_path / "one", settings, embedder)
    assert verified.issues == (), verified.to_text()
    with psycopg.connect(second_database) as conn:
        chunks = searched_chunks(conn, settings.database, "english", DIM)
        assert chunk_count(conn, chunks) == (4, 4)


#: columns whose type is a domain over the field's type: a CHECKed URL, a limited title
DOMAINS = """
CREATE DOMAIN app.http_url AS text CHECK (VALUE ~ '^https?://');
CREATE DOMAIN app.short_text AS varchar(200);
ALTER TABLE app.documents ALTER COLUMN source_url TYPE app.http_url, ALTER COLUMN name TYPE app.short_text;
"""


def test_columns_of_a_domain_type_map_as_their_base_type(
    database_url: str, second_database: str, tmp_path: Path
) -> None:
    """A domain over text holds text without loss: db check refused it ("app.http_url cannot hold
    analyses.url (text) without loss"), init --from-database left it out."""
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings(
        {"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump(), "rubric": NO_PROMPTS}
    )
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    for url in (database_url, second_database):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(DOMAINS)
    dump(database_url, settings, tmp_path / "one")
    restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    dump(second_database, settings, tmp_path / "two")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "two")
    inferred = infer_mapping(read_catalogue(database_url)).to_params()["tables"]["analyses"]["columns"]
    assert (inferred["url"], inferred["title"]) == ("source_url", "name")


def test_an_import_writes_into_the_mapped_tables(
    database_url: str, second_database: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `import` with params database: wrote goldkeeper's own golden.* tables, leaving the application's empty
    program = write_program(project, DIM)  # a command relative to the project root
    embedding = {"provider": program, "model": "team/app-embedder", "dimensions": DIM}
    params = {"database": MAPPING, "embedding": embedding, "rubric": NO_PROMPTS}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    settings = validate_settings({"root": project, **params})
    dump(database_url, settings, project / "one")
    assert run_cli(["export", "jsonl", "docs.jsonl", "--from", "one", "--kind", "analyses"], capsys)[0] == 0
    code, out, err = run_cli(["import", "jsonl", "docs.jsonl", "--database-url", second_database], capsys)
    assert code == 0, err
    with psycopg.connect(second_database) as conn:
        docs = conn.execute("SELECT doc_id, state FROM app.documents ORDER BY doc_id").fetchall()
        assert docs == [(DOC[0], "published"), (DOC[1], "published")]
        assert conn.execute("SELECT count(*), count(emb) FROM app.doc_chunks").fetchone() == (4, 4)
        # goldkeeper's own tables hold the queries with a mapping, never the documents
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (0,)
