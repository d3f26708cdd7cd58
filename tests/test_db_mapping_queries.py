"""``database.tables.queries`` (issue 12): the golden test queries in the application's own table.

An application table unlike ``golden.queries`` (other names, a varchar id, tags in jsonb, reference answers
in text[], an unmapped column, a ``where``): dump -> restore --replace into a second empty application
database -> dump is byte-identical; rows outside the ``where`` are never touched; a bad type is one line.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database
from embed_command_support import write_program
from golden_support import store_bytes
from goldkeeper.config import EmbeddingParams, validate_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.db.mapped_reader import mapped_queries
from goldkeeper.db.mapping import Mapping
from goldkeeper.embed import load_embedder
from goldkeeper.errors import ConfigError, ConflictError, DataIntegrityError, RecordValidationError
from goldkeeper.store import open_store

DIM = 24

PROMPTS_TABLE = """
CREATE TABLE app.eval_prompts (prompt_id varchar(64) PRIMARY KEY, body text NOT NULL, area text NOT NULL,
    level text NOT NULL DEFAULT 'medium', labels jsonb NOT NULL DEFAULT '[]', expects jsonb NOT NULL DEFAULT '{}',
    answers text[] NOT NULL DEFAULT '{}', behaviour jsonb NOT NULL, suite text NOT NULL DEFAULT 'golden',
    owner text NOT NULL DEFAULT 'qa')
"""
QUERIES: dict[str, Any] = {
    "table": "app.eval_prompts",
    "columns": {
        "id": "prompt_id",
        "text": "body",
        "domain": "area",
        "difficulty": "level",
        "tags": "labels",
        "expected": "expects",
        "reference_answers": "answers",
        "expected_behavior": "behaviour",
    },
    "where": "suite = 'golden'",
}
WITH_QUERIES: dict[str, Any] = {"tables": {**MAPPING["tables"], "queries": QUERIES}}
ANSWER = {"behavior": "answer", "must_not": ["fabricate_citation"]}
REFUSE = {"behavior": "refuse", "must_not": ["answer_without_evidence"]}
#: outside the where: never read, never replaced
SCRATCH = ("scratch:1", "a prompt being drafted", "ops", "hard", '["wip"]', "{}", "{}", '{"behavior": "x"}', "adhoc")


def _chunk(i: int, j: int) -> str:
    return str(uuid.UUID(int=100 + 10 * i + j))


def _insert(conn: psycopg.Connection[Any], *row: Any) -> None:
    conn.execute(
        "INSERT INTO app.eval_prompts (prompt_id, body, area, level, labels, expects, answers, behaviour, suite) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        row,
    )


def app_with_prompts(url: str, *, rows: bool = True) -> None:
    app_database(url, rows=rows, dim=DIM)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PROMPTS_TABLE)
        _insert(conn, *SCRATCH)
        if not rows:
            return
        expects = {"chunks": [{"id": _chunk(1, 0), "relevance": 2}, {"id": _chunk(0, 1)}], "analyses": [{"id": DOC[0]}]}
        for row in (
            ("b.2", "How is doc 1 built?", "docs", "easy", '["x", "y"]', json.dumps(expects), ["ref one"], ANSWER),
            ("A-1", "What is unknown?", "docs", "hard", "[]", "{}", [], REFUSE),
            (
                "c:3",
                "Doc 0 in short?",
                "faq",
                "medium",
                '["z"]',
                json.dumps({"analyses": [{"id": DOC[0]}]}),
                [],
                ANSWER,
            ),
        ):
            _insert(conn, *row[:7], json.dumps(row[7]), "golden")


def _prompts(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute('SELECT * FROM app.eval_prompts ORDER BY prompt_id COLLATE "C"').fetchall()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Any, Any]:
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    settings = validate_settings({"root": tmp_path, "database": WITH_QUERIES, "embedding": embedding.model_dump()})
    return settings, load_embedder(embedding, root=tmp_path / "embedder")


def test_dump_reads_the_queries_table_within_its_where(database_url: str, tmp_path: Path, setup: Any) -> None:
    settings, _ = setup
    app_with_prompts(database_url)
    report = dump(database_url, settings, tmp_path / "one")
    assert (report.counts["analyses"], report.counts["queries"]) == (2, 3)
    queries = sorted(open_store(tmp_path / "one").queries(), key=lambda q: q.id.encode())
    assert [q.id for q in queries] == ["A-1", "b.2", "c:3"]  # scratch:1 is outside the where
    built = queries[1]
    assert (built.text, built.domain, built.difficulty, built.tags) == (
        "How is doc 1 built?",
        "docs",
        "easy",
        ["x", "y"],
    )
    assert built.reference_answers == ["ref one"] and built.expected_behavior.behavior == "answer"
    assert [(str(r.id), r.relevance) for r in built.expected.chunks] == [(_chunk(0, 1), 1), (_chunk(1, 0), 2)]
    assert [str(r.id) for r in built.expected.analyses] == [DOC[0]]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('golden.queries')").fetchone() == (None,)  # nothing created
    with mapped_queries(database_url, Mapping.from_params(settings.database)) as stream:
        assert [q.id for q in stream] == ["A-1", "b.2", "c:3"]  # bytewise, as from golden.queries


def test_dump_restore_replace_dump_is_byte_identical_and_rows_outside_the_where_stay(
    database_url: str, second_database: str, tmp_path: Path, setup: Any
) -> None:
    settings, embedder = setup
    app_with_prompts(database_url)
    app_with_prompts(second_database, rows=False)
    scratch = _prompts(second_database)
    first = dump(database_url, settings, tmp_path / "one")

    dry = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True, dry_run=True)
    assert dry.queries.added == ("A-1", "b.2", "c:3") and _prompts(second_database) == scratch
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert report.queries.added == ("A-1", "b.2", "c:3") and report.queries.removed == ()
    second = dump(second_database, settings, tmp_path / "two")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "two") and first.version == second.version
    rows = _prompts(second_database)
    assert rows[-1] == scratch[0]  # scratch:1 (suite adhoc) untouched
    assert [(r[0], r[8], r[9]) for r in rows[:3]] == [
        ("A-1", "golden", "qa"),
        ("b.2", "golden", "qa"),
        ("c:3", "golden", "qa"),
    ]
    with psycopg.connect(second_database) as conn:  # the queries live in the application's table only
        assert conn.execute("SELECT count(*) FROM golden.queries").fetchone() == (0,)
        assert conn.execute("SELECT answers, labels FROM app.eval_prompts WHERE prompt_id = 'b.2'").fetchone() == (
            ["ref one"],
            ["x", "y"],
        )

    # an edited query is replaced, one the store lacks is removed: inside the where only
    with psycopg.connect(second_database, autocommit=True) as conn:
        conn.execute("UPDATE app.eval_prompts SET body = 'edited' WHERE prompt_id = 'c:3'")
        _insert(conn, "zz", "extra", "docs", "easy", "[]", "{}", [], json.dumps(REFUSE), "golden")
    with pytest.raises(ConflictError, match="query c:3"):
        restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert (report.queries.replaced, report.queries.removed, report.queries.skipped) == (
        ("c:3",),
        ("zz",),
        ("A-1", "b.2"),
    )
    assert _prompts(second_database)[-1] == scratch[0]
    dump(second_database, settings, tmp_path / "three")
    assert store_bytes(tmp_path / "one") == store_bytes(tmp_path / "three")


def test_an_id_held_outside_the_where_and_unmapped_values_refuse_the_restore(
    database_url: str, second_database: str, tmp_path: Path, setup: Any
) -> None:
    settings, embedder = setup
    app_with_prompts(database_url)
    app_with_prompts(second_database, rows=False)
    dump(database_url, settings, tmp_path / "one")
    with psycopg.connect(second_database, autocommit=True) as conn:
        _insert(conn, "b.2", "someone else's", "ops", "easy", "[]", "{}", [], json.dumps(REFUSE), "adhoc")
    before = _prompts(second_database)
    with pytest.raises(ConflictError, match=r"query b.2 already exists in app.eval_prompts outside .*where"):
        restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert _prompts(second_database) == before
    with psycopg.connect(second_database) as conn:
        assert conn.execute("SELECT count(*) FROM app.documents").fetchone() == (0,)  # all or nothing

    narrow = json.loads(json.dumps(WITH_QUERIES))
    del narrow["tables"]["queries"]["columns"]["difficulty"]
    other = validate_settings({"root": tmp_path, "database": narrow, "embedding": settings.embedding.model_dump()})
    with pytest.raises(DataIntegrityError, match=r"queries have a difficulty .*columns.difficulty is not mapped"):
        restore_store(second_database, tmp_path / "one", embedder, settings=other, replace=True)
    assert _prompts(second_database) == before


def test_db_check_names_a_bad_type_in_one_line(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_with_prompts(database_url)
    monkeypatch.setenv("GOLDKEEPER_DATABASE_URL", database_url)
    embedding = {"provider": write_program(project, DIM), "model": "team/app-embedder", "dimensions": DIM}
    (project / "params.yaml").write_text(yaml.safe_dump({"database": WITH_QUERIES, "embedding": embedding}))
    code, out, _ = run_cli(["db", "check"], capsys)
    assert (code, out) == (
        0,
        "database mapping ok: app.documents, app.doc_chunks, app.summaries, app.notes, app.eval_prompts\n",
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.eval_prompts ALTER COLUMN behaviour TYPE text")
        conn.execute("ALTER TABLE app.eval_prompts ALTER COLUMN expects DROP DEFAULT")
        conn.execute("ALTER TABLE app.eval_prompts ALTER COLUMN expects TYPE text[] USING '{}'")
        conn.execute("UPDATE app.eval_prompts SET prompt_id = 'has space' WHERE prompt_id = 'A-1'")
        conn.execute("""UPDATE app.eval_prompts SET labels = '[1, "x"]' WHERE prompt_id = 'b.2'""")
        conn.execute("""UPDATE app.eval_prompts SET labels = '{"wip": 1}' WHERE suite = 'adhoc'""")  # not in scope
    code, out, err = run_cli(["db", "check"], capsys)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        "app.eval_prompts.expects: text[] cannot hold queries.expected (jsonb) without loss",
        "app.eval_prompts.behaviour: text cannot hold queries.expected_behavior (jsonb) without loss",
        "app.eval_prompts.prompt_id: 1 row(s) hold an id goldkeeper's queries cannot have (e.g. 'has space'; "
        "letters, digits and . _ : - only)",
        "app.eval_prompts.labels: 1 row(s) hold jsonb that is not an array of strings, so queries.tags (text[]) "
        "cannot be read back unchanged",
        "error: database mapping: 4 problem(s)",
    ]


def test_a_row_the_model_refuses_names_table_id_and_column(database_url: str, tmp_path: Path, setup: Any) -> None:
    settings, _ = setup
    app_with_prompts(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("""UPDATE app.eval_prompts SET behaviour = '{"behavior": "maybe"}' WHERE prompt_id = 'c:3'""")
    with pytest.raises(RecordValidationError) as raised:
        dump(database_url, settings, tmp_path / "one")
    assert str(raised.value).startswith("app.eval_prompts: record c:3: field behaviour.behavior: Input should be")
    assert "\n" not in str(raised.value) and not (tmp_path / "one").exists()


def test_the_queries_entity_must_map_its_required_fields(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(WITH_QUERIES))
    del broken["tables"]["queries"]["columns"]["expected_behavior"]
    with pytest.raises(ConfigError, match=r"tables.queries: required field 'expected_behavior' is not mapped"):
        validate_settings({"root": tmp_path, "database": broken})
    broken["tables"]["queries"]["columns"].update({"expected_behavior": "behaviour", "colour": "c"})
    with pytest.raises(ConfigError, match="tables.queries: unknown field 'colour'"):
        validate_settings({"root": tmp_path, "database": broken})


def test_dump_and_restore_at_a_revision_commands_carry_the_queries(
    database_url: str, second_database: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = write_program(project, DIM)
    params = {
        "database": WITH_QUERIES,
        "embedding": {"provider": program, "model": "team/app-embedder", "dimensions": DIM},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    app_with_prompts(database_url)
    app_with_prompts(second_database, rows=False)
    assert run_cli(["--database-url", database_url, "dump"], capsys)[0] == 0
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "add", "golden"], check=True)
    subprocess.run(["git", *env, "-C", str(project), "commit", "-qm", "store"], check=True)
    restore = ["--database-url", second_database, "restore", "--rev", "HEAD", "--replace", "--json"]
    code, out, err = run_cli([*restore, "--dry-run"], capsys)
    assert code == 0, err
    assert json.loads(out)["queries"]["added"] == ["A-1", "b.2", "c:3"] and len(_prompts(second_database)) == 1
    code, out, err = run_cli(restore, capsys)
    assert code == 0, err
    assert json.loads(out)["queries"]["added"] == ["A-1", "b.2", "c:3"] and len(_prompts(second_database)) == 4
    assert run_cli(["--database-url", second_database, "dump", "--out", "again"], capsys)[0] == 0
    assert store_bytes(project / "golden") == store_bytes(project / "again")


def test_verify_db_and_retrieval_read_the_mapped_queries(
    database_url: str, second_database: str, tmp_path: Path, setup: Any
) -> None:
    """verify --db counts and hashes the queries in the application's table, follows their jsonb expected
    results into the mapped scope, and the retrieval eval takes its judgments from them (not golden.queries)."""
    from goldkeeper.config import RetrievalParams
    from goldkeeper.dataset.verify import verify_database
    from goldkeeper.evals.retrieval import run_retrieval

    settings, embedder = setup
    settings = settings.model_copy(update={"rubric": settings.rubric.model_copy(update={"min_prompts": 0})})
    app_with_prompts(database_url)
    app_with_prompts(second_database, rows=False)
    dump(database_url, settings, tmp_path / "one")
    restore_store(second_database, tmp_path / "one", embedder, settings=settings)

    report = verify_database(second_database, tmp_path / "one", settings, embedder)
    assert report.issues == (), report.to_text()
    checked = dict(report.checked)
    assert (checked["db queries"], checked["db records compared"]) == (3, 5)

    result = run_retrieval(second_database, embedder, RetrievalParams(), modes=["vector"], database=settings.database)
    # b.2 expects two chunks; A-1 is a refusal; c:3 expects an analysis only (no chunk judgments)
    assert (result.queries_total, result.excluded_refusal, result.excluded_no_relevant) == (3, 1, 1)
    assert result.qrels == {"b.2": {_chunk(1, 0): 2, _chunk(0, 1): 1}}

    with psycopg.connect(second_database, autocommit=True) as conn:
        conn.execute("UPDATE app.eval_prompts SET body = 'How is doc 1 made?' WHERE prompt_id = 'b.2'")
        gone = {"chunks": [{"id": str(uuid.UUID(int=999)), "relevance": 1}], "analyses": []}
        conn.execute("UPDATE app.eval_prompts SET expects = %s WHERE prompt_id = 'c:3'", (json.dumps(gone),))
    report = verify_database(second_database, tmp_path / "one", settings, embedder)
    found = sorted((i.code, i.record_id) for i in report.errors)
    assert ("db.content", "b.2") in found and ("db.content", "c:3") in found, report.to_text()
    assert any(str(uuid.UUID(int=999)) in i.message for i in report.errors), report.to_text()
    # the eval scores c:3 now, as a miss no search can avoid: a warning names it
    result = run_retrieval(second_database, embedder, RetrievalParams(), modes=["fulltext"], database=settings.database)
    assert result.missing_expected == {"c:3": [str(uuid.UUID(int=999))]}
    with psycopg.connect(second_database, autocommit=True) as conn:
        zero = {"chunks": [{"id": _chunk(1, 0), "relevance": 0}], "analyses": []}  # a user's own jsonb
        conn.execute("UPDATE app.eval_prompts SET expects = %s WHERE prompt_id = 'b.2'", (json.dumps(zero),))
    result = run_retrieval(second_database, embedder, RetrievalParams(), modes=["fulltext"], database=settings.database)
    # judged 0 is not relevant (TREC): b.2 has no relevant chunk, so it is counted, not scored as a miss
    assert (result.excluded_no_relevant, list(result.qrels)) == (1, ["c:3"])


#: the new user's edit (issue 12): drop a key that has a default, upper-case a UUID; plus the expected chunks
#: in another order and a relevance left out where it is the default: dump reads all of it as the same record
CANONICAL_EDIT = """
UPDATE app.eval_prompts SET behaviour = behaviour - 'refusal', expects = jsonb_build_object(
    'analyses', expects -> 'analyses',
    'chunks', jsonb_build_array(expects #> '{chunks,1}', jsonb_build_object('id', upper(expects #>> '{chunks,0,id}'))))
WHERE prompt_id = 'b.2'
"""


def _raw(url: str) -> list[tuple[Any, ...]]:
    """Every mapped row as stored, with its row version (a rewrite of equal values changes xmin)."""
    with psycopg.connect(url) as conn:
        prompts = conn.execute(
            "SELECT prompt_id, expects::text, behaviour::text, xmin::text FROM app.eval_prompts ORDER BY 1"
        ).fetchall()
        notes = conn.execute("SELECT doc_id, pos, note, xmin::text FROM app.notes ORDER BY 1, 2").fetchall()
    return prompts + notes


def test_restore_calls_unchanged_what_dump_calls_unchanged(
    database_url: str, second_database: str, tmp_path: Path, setup: Any
) -> None:
    """Restore decides "different" on the canonical form, as dump does: a row whose raw jsonb differs but
    reads back as the same record is skipped (even by --replace, which leaves it as it is); a real change
    is still a conflict, and --replace still writes it."""
    settings, embedder = setup
    app_with_prompts(database_url)
    app_with_prompts(second_database, rows=False)
    dump(database_url, settings, tmp_path / "one")
    original = store_bytes(tmp_path / "one")
    restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    with psycopg.connect(second_database, autocommit=True) as conn:
        row = conn.execute("SELECT behaviour, expects FROM app.eval_prompts WHERE prompt_id = 'b.2'").fetchone()
        assert row is not None and "refusal" in row[0] and row[1]["chunks"][0] == {"id": _chunk(0, 1), "relevance": 1}
        conn.execute(CANONICAL_EDIT)
        conn.execute("UPDATE app.notes SET pos = pos * 10 + 5")  # positions with gaps: the same findings in order
        row = conn.execute("SELECT behaviour, expects FROM app.eval_prompts WHERE prompt_id = 'b.2'").fetchone()
    assert row is not None and "refusal" not in row[0] and row[1]["chunks"][1] == {"id": _chunk(0, 1).upper()}
    raw = _raw(second_database)

    assert dump(second_database, settings, tmp_path / "one").changed is False  # "(unchanged)"
    assert store_bytes(tmp_path / "one") == original
    dry = restore_store(second_database, tmp_path / "one", embedder, settings=settings, dry_run=True)
    assert (dry.queries.conflicts, dry.analyses.conflicts) == ((), ())
    assert (dry.queries.skipped, dry.analyses.skipped) == (("A-1", "b.2", "c:3"), (DOC[0], DOC[1]))
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert (report.queries.replaced, report.analyses.replaced, report.queries.skipped) == ((), (), dry.queries.skipped)
    assert _raw(second_database) == raw  # the application's values stay as they were, not even rewritten

    with psycopg.connect(second_database, autocommit=True) as conn:  # real changes, next to the raw ones
        conn.execute(
            "UPDATE app.eval_prompts SET expects = jsonb_set(expects, '{chunks,0,relevance}', '3') "
            "WHERE prompt_id = 'b.2'"
        )
        conn.execute(f"UPDATE app.notes SET note = 'rechecked' WHERE doc_id = '{DOC[1]}' AND pos = 5")
    dry = restore_store(second_database, tmp_path / "one", embedder, settings=settings, dry_run=True)
    assert (dry.queries.conflicts, dry.analyses.conflicts) == (("b.2",), (DOC[1],))
    with pytest.raises(ConflictError, match=f"analysis {DOC[1]}, query b.2"):
        restore_store(second_database, tmp_path / "one", embedder, settings=settings)
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert (report.queries.replaced, report.analyses.replaced) == (("b.2",), (DOC[1],))
    assert (
        dump(second_database, settings, tmp_path / "two").version
        == dump(database_url, settings, tmp_path / "three").version
    )
    assert store_bytes(tmp_path / "two") == original

    with psycopg.connect(second_database, autocommit=True) as conn:  # rows the models refuse: never "unchanged"
        conn.execute("""UPDATE app.eval_prompts SET behaviour = '{"behavior": "maybe"}' WHERE prompt_id = 'c:3'""")
        conn.execute(f"UPDATE app.doc_chunks SET ord = 0 WHERE doc_id = '{DOC[0]}'")  # a duplicate chunk_index
    dry = restore_store(second_database, tmp_path / "one", embedder, settings=settings, dry_run=True)
    assert (dry.queries.conflicts, dry.analyses.conflicts) == (("c:3",), (DOC[0],))
    report = restore_store(second_database, tmp_path / "one", embedder, settings=settings, replace=True)
    assert (report.queries.replaced, report.analyses.replaced) == (("c:3",), (DOC[0],))
    assert dump(second_database, settings, tmp_path / "two").changed is False


def test_a_number_the_store_cannot_hold_in_mapped_query_jsonb_stops_dump(
    database_url: str, tmp_path: Path, setup: Any
) -> None:
    """A number orjson cannot hold exactly in a mapped query's jsonb (here ``behaviour``): named, not rounded."""
    settings, _ = setup
    app_with_prompts(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("""UPDATE app.eval_prompts SET behaviour = behaviour || '{"x": 2e-400}' WHERE prompt_id = 'b.2'""")
    with pytest.raises(RecordValidationError) as caught:
        dump(database_url, settings, tmp_path / "out")
    assert str(caught.value).startswith("app.eval_prompts: record b.2: field behaviour: the number "), caught.value
    assert not (tmp_path / "out").exists()
