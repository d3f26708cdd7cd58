"""The application's own tables (issue 12): params ``database:``, ``db check`` and dump through a mapping."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database, settings_for
from golden_support import store_bytes
from goldkeeper.dataset.dump import dump
from goldkeeper.db.catalogue import read_catalogue
from goldkeeper.db.mapping_check import check_database
from goldkeeper.db.mapping_infer import infer_mapping
from goldkeeper.errors import ConfigError
from goldkeeper.store import open_store


def test_dump_reads_the_mapped_tables_within_the_where(database_url: str, tmp_path: Path) -> None:
    app_database(database_url)
    report = dump(database_url, settings_for(tmp_path))
    assert report.counts["analyses"] == 2  # the draft is outside the where
    store = open_store(tmp_path / "golden")
    analyses = {str(a.id): a for a in store.analyses()}
    assert sorted(analyses) == DOC[:2]
    first = analyses[DOC[0]]
    assert first.url == "https://docs.test/0" and first.title == "Doc 0"
    assert first.created_at.isoformat() == "2024-01-02T10:00:00+00:00"  # timestamp without time zone = UTC
    assert [c.section_path for c in first.chunks] == [[], ["Part A", "Intro"]]
    assert first.artifact is not None and first.artifact.key_findings == ["a", "b"]
    assert first.artifact.metadata == {"k": 1}
    assert first.status == "published" and first.content_type == "text"  # content_type unmapped: the default
    assert [(f.agent, f.content, f.confidence) for f in analyses[DOC[1]].findings] == [
        ("reviewer", "checked", None),
        ("bot", "ok", None),
    ]
    assert analyses[DOC[1]].artifact is None
    assert "scope" not in json.loads((tmp_path / "golden" / "manifest.json").read_text())


def test_a_required_field_not_mapped_is_a_config_error(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(MAPPING))
    del broken["tables"]["chunks"]["columns"]["content"]
    with pytest.raises(ConfigError, match="database.*required field 'content' is not mapped"):
        settings_for(tmp_path, broken)
    unknown = json.loads(json.dumps(MAPPING))
    unknown["tables"]["analyses"]["columns"]["colour"] = "x"
    with pytest.raises(ConfigError, match="unknown field 'colour'"):
        settings_for(tmp_path, unknown)


def test_without_a_mapping_nothing_changes(tmp_path: Path) -> None:
    assert settings_for(tmp_path, None).database is None


def test_db_check_names_each_problem(database_url: str, tmp_path: Path) -> None:
    app_database(database_url, rows=False)
    mapping = settings_for(tmp_path).database
    assert check_database(database_url, mapping, 384).problems == ()
    bad = json.loads(json.dumps(MAPPING))
    bad["tables"]["analyses"]["columns"]["title"] = "nom"
    bad["tables"]["analyses"]["where"] = "no_such_column = 1"
    bad["tables"]["chunks"]["columns"]["chunk_index"] = "body"
    del bad["tables"]["chunks"]["separators"]
    bad["tables"]["artifacts"]["table"] = "app.nothing"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.doc_chunks DROP CONSTRAINT doc_chunks_doc_id_fkey")
    problems = check_database(database_url, settings_for(tmp_path, bad).database, 1024).problems
    assert problems == (
        "app.documents.nom: no such column (mapped from analyses.title)",
        "app.documents: where 'no_such_column = 1' is not valid: column \"no_such_column\" does not exist",
        "app.doc_chunks.body: text cannot hold chunks.chunk_index (int4) without loss",
        "app.doc_chunks.path: text cannot hold chunks.section_path (text[]) without loss "
        "(declare separators.section_path for a path stored as text)",
        "app.doc_chunks.emb: vector(384), but the model embeds vector(1024)",
        "app.doc_chunks.doc_id: no FOREIGN KEY to app.documents (add one, or set "
        "database.tables.chunks.declared_foreign_key: true)",
        "app.nothing: no such table (database.tables.artifacts.table)",
    )


def test_db_check_finds_text_ids_that_are_not_uuids(database_url: str, tmp_path: Path) -> None:
    app_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO app.documents VALUES ('DOC-7', 'https://docs.test/7', 'Seven', 'published', now())")
        conn.execute("INSERT INTO app.documents VALUES ('doc-8', 'https://docs.test/8', 'Eight', 'draft', now())")
    assert check_database(database_url, settings_for(tmp_path).database, 384).problems == (
        "app.documents.doc_id: 1 row(s) hold text that is not a lowercase UUID (e.g. 'DOC-7'), "
        "so analyses.id (uuid) cannot be read back unchanged",
    )  # the draft is outside the where
    with pytest.raises(ConfigError, match="app.documents.doc_id: 1 row"):
        dump(database_url, settings_for(tmp_path))


def test_dump_refuses_a_mapping_the_database_does_not_match(database_url: str, tmp_path: Path) -> None:
    app_database(database_url, rows=False)
    bad = json.loads(json.dumps(MAPPING))
    bad["tables"]["analyses"]["columns"]["title"] = "nom"
    with pytest.raises(ConfigError, match="app.documents.nom: no such column"):
        dump(database_url, settings_for(tmp_path, bad))
    assert not (tmp_path / "golden").exists()


def test_db_check_command_prints_one_line_per_problem_and_exits_3(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_database(database_url, rows=False)
    monkeypatch.setenv("GOLDKEEPER_DATABASE_URL", database_url)
    (project / "params.yaml").write_text(yaml.safe_dump({"database": MAPPING}))
    assert run_cli(["db", "check"], capsys) == (
        0,
        "database mapping ok: app.documents, app.doc_chunks, app.summaries, app.notes\n",
        "",
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.documents ALTER COLUMN published_at TYPE date")
        conn.execute("ALTER TABLE app.notes RENAME COLUMN who TO author")
    code, out, err = run_cli(["db", "check"], capsys)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        "app.documents.published_at: date cannot hold analyses.created_at (timestamptz) without loss",
        "app.notes.who: no such column (mapped from findings.agent)",
        "error: database mapping: 2 problem(s)",
    ]
    (project / "params.yaml").write_text("{}")
    code, _, err = run_cli(["db", "check"], capsys)
    assert code == 3 and "no database: section" in err


def test_values_goldkeeper_types_cannot_hold_are_named_by_db_check_and_stop_dump(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An 'infinity' timestamp, a year past 9999 or a bigint position past int4 converts to nothing dump can
    read: db check names the column and a value (it said "ok"), and dump stops before writing anything (it
    failed mid-COPY with no table, record or column named)."""
    app_database(database_url)
    (project / "params.yaml").write_text(yaml.safe_dump({"database": MAPPING}))
    assert run_cli(["--database-url", database_url, "dump"], capsys)[0] == 0
    before = {p: p.read_bytes() for p in (project / "golden").rglob("*.json")}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE app.documents SET published_at = 'infinity' WHERE doc_id = '{DOC[0]}'")
        conn.execute(f"UPDATE app.documents SET published_at = '12000-01-01' WHERE doc_id = '{DOC[1]}'")
        conn.execute(f"UPDATE app.doc_chunks SET ord = 4294967296 WHERE doc_id = '{DOC[1]}' AND ord = 1")
        conn.execute(f"UPDATE app.documents SET published_at = '-infinity' WHERE doc_id = '{DOC[2]}'")  # a draft
    code, out, err = run_cli(["--database-url", database_url, "db", "check"], capsys)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        "app.documents.published_at: 2 row(s) hold a value analyses.created_at (timestamptz) cannot hold "
        "(e.g. '12000-01-01 00:00:00'; years 1 to 9999 only)",
        "app.doc_chunks.ord: 1 row(s) hold a value chunks.chunk_index (int4) cannot hold "
        "(e.g. '4294967296'; -2147483648 to 2147483647 only)",
        "error: database mapping: 2 problem(s)",
    ]
    code, out, err = run_cli(["--database-url", database_url, "dump"], capsys)
    assert code == 3 and len(err.splitlines()) == 1, err
    assert "app.documents.published_at: 2 row(s)" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in (project / "golden").rglob("*.json")} == before


def test_a_sql_ascii_database_holding_utf8_text_is_read_like_any_other(
    pg_admin_url: str, database_url: str, tmp_path: Path
) -> None:
    """A legacy SQL_ASCII database: psycopg returned its catalogue's names as bytes, so db check found no
    column at all and dump failed on its snapshot id. goldkeeper's connections ask for UTF-8."""
    name = f"t_ascii_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    legacy = pg_admin_url.replace("/goldkeeper?", f"/{name}?")
    try:
        for url in (legacy, database_url):
            app_database(url)
            with psycopg.connect(url, autocommit=True, client_encoding="UTF8") as conn:
                conn.execute(f"UPDATE app.documents SET name = 'Ünïcødé 🚀 עברית' WHERE doc_id = '{DOC[0]}'")
        settings = settings_for(tmp_path)
        assert check_database(legacy, settings.database, 384).problems == ()
        dump(legacy, settings, tmp_path / "legacy")
        dump(database_url, settings, tmp_path / "utf8")
        assert store_bytes(tmp_path / "legacy") == store_bytes(tmp_path / "utf8")
        titles = {str(a.id): a.title for a in open_store(tmp_path / "legacy").analyses()}
        assert titles[DOC[0]] == "Ünïcødé 🚀 עברית"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_timestamp_of_precision_6_is_the_plain_type(database_url: str, tmp_path: Path) -> None:
    """``timestamp(6)`` (Rails' datetime) holds microseconds like ``timestamp``: db check called it lossy and
    init --from-database left it out. A lower precision reads without loss too (tests/test_db_mapping_types.py)."""
    app_database(database_url)
    dump(database_url, settings_for(tmp_path), tmp_path / "plain")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.documents ALTER COLUMN published_at TYPE timestamp(6) with time zone")
    assert check_database(database_url, settings_for(tmp_path).database, 384).problems == ()
    dump(database_url, settings_for(tmp_path), tmp_path / "six")
    assert store_bytes(tmp_path / "six") == store_bytes(tmp_path / "plain")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.documents ALTER COLUMN published_at TYPE timestamp(6) without time zone")
    assert check_database(database_url, settings_for(tmp_path).database, 384).problems == ()
    inferred = infer_mapping(read_catalogue(database_url)).to_params()["tables"]["analyses"]["columns"]
    assert inferred["created_at"] == "published_at"


def test_two_artifacts_for_one_analysis_or_findings_at_one_position_are_named(
    database_url: str, tmp_path: Path
) -> None:
    """goldkeeper holds one artifact per analysis: without a UNIQUE constraint on the application's table, dump
    kept one of two rows (which one by chance) and dropped the other, exit 0; two findings at one position were
    written in an order left to chance (two dumps of the same rows could differ)."""
    app_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO app.summaries (sid, doc_id, summary) VALUES (%s, %s, 'second')",
            (str(uuid.UUID(int=998)), DOC[0]),
        )
    line = (
        f"app.summaries.doc_id: 1 analysis id(s) have more than one artifact (e.g. {DOC[0]!r}): goldkeeper keeps "
        "one artifact per analysis (dump would drop the others)"
    )
    assert check_database(database_url, settings_for(tmp_path).database, 384).problems == (line,)
    with psycopg.connect(database_url, autocommit=True) as conn:  # two findings at one position: order by chance
        conn.execute("ALTER TABLE app.notes DROP CONSTRAINT notes_pkey")
        conn.execute("INSERT INTO app.notes VALUES (%s, 1, 'bot', 'style', 'again')", (DOC[1],))
    assert check_database(database_url, settings_for(tmp_path).database, 384).problems == (
        line,
        f"app.notes (doc_id, pos): 1 (analysis id, ordinal) pair(s) hold more than one finding (e.g. '{DOC[1]}, 1'): "
        "goldkeeper orders an analysis's findings by ordinal (dump would write them in an order left to chance)",
    )
    with pytest.raises(ConfigError, match=re.escape(f"database mapping: {line} (and 1 more")):
        dump(database_url, settings_for(tmp_path))
    assert not (tmp_path / "golden").exists()


def test_a_number_the_store_cannot_hold_in_a_mapped_jsonb_column_stops_dump(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1e400 or 22 significant digits in the application's jsonb: orjson would write another number (null,
    0.1) and restore it so. Dump names the mapped table, the record and the column, and writes nothing."""
    app_database(database_url)
    (project / "params.yaml").write_text(yaml.safe_dump({"database": MAPPING}))
    assert run_cli(["--database-url", database_url, "dump"], capsys)[0] == 0
    before = store_bytes(project / "golden")
    for value in ("1e400", "0.1000000000000000000001", "123456789012345678901234567890"):
        with psycopg.connect(database_url, autocommit=True) as conn:
            sid = conn.execute(
                f"UPDATE app.summaries SET meta = '{{\"n\": [1.5, {value}]}}' WHERE doc_id = '{DOC[0]}' RETURNING sid"
            ).fetchone()
        assert sid is not None
        code, out, err = run_cli(["--database-url", database_url, "dump"], capsys)
        assert (code, out) == (5, "") and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: app.summaries: record {sid[0]}: field meta: the number "), err
        assert value in err or value == "1e400"  # jsonb prints 1e400 as 401 digits: abbreviated
        assert store_bytes(project / "golden") == before
