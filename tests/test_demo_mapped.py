"""``goldkeeper demo --mapped`` end to end, and the plain demo in a project whose params.yaml maps its own tables."""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import psycopg
import pytest
import yaml

from cli_support import run_cli as run
from db_mapping_support import MAPPING
from goldkeeper.config import load_settings
from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.demo import MAPPED_STEPS, DemoStep, StepResult, run_demo
from goldkeeper.demo.mapped import MAPPING_FILE, SCHEMA_FILE, package_file
from goldkeeper.errors import DataIntegrityError
from test_demo import small_project
from test_squad_import import files_of

REPO = Path(__file__).resolve().parent.parent
DRAFT = "6f1c1a52-7d1e-4c1b-9d55-0d2a1f0d0001"


def quick_project(project: Path, extra: str = "") -> Path:
    golden = small_project(project)
    params = project / "params.yaml"
    params.write_text(params.read_text() + "grounded:\n  demo_limit: 2\n" + extra)
    return golden


def app_rows(home: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], bool]:
    """(documents, chunks without vectors, golden.chunks exists) of the stopped demo database."""
    server = EmbeddedServer(home)
    url = server.start()
    try:
        with psycopg.connect(url) as conn:
            docs = conn.execute("SELECT doc_id::text, state, name FROM app.documents ORDER BY state, name").fetchall()
            chunks = conn.execute(
                "SELECT doc_id::text, ord, path, emb IS NOT NULL, emb_model IS NOT NULL FROM app.doc_chunks "
                "ORDER BY doc_id, ord"
            ).fetchall()
            golden = conn.execute("SELECT to_regclass('golden.chunks') IS NOT NULL").fetchone()
            has_golden_chunks = bool(golden and golden[0]) and conn.execute(
                "SELECT count(*) FROM golden.chunks"
            ).fetchone() != (0,)
    finally:
        server.stop()
    return docs, chunks, has_golden_chunks


@pytest.mark.slow
def test_mapped_demo_runs_every_step_through_the_mapping(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golden = quick_project(project)
    code, out, err = run(["demo", "--mapped", "--json"], capsys)
    assert code == 0, err
    report = orjson.loads(out)
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == [
        "schema", "restore", "verify", "eval_retrieval", "eval_grounded", "gate", "report", "dump"
    ]  # fmt: skip
    assert report["mapped"] is True and str(package_file(MAPPING_FILE)) in report["notes"][0]
    assert steps["schema"]["data"]["schema_file"] == str(package_file(SCHEMA_FILE))
    assert steps["restore"]["data"]["embeddings"]["chunks_embedded"] == 2
    checked = steps["verify"]["data"]["checked"]
    assert steps["verify"]["data"]["valid"] is True and checked["db chunks"] == 2 and checked["db analyses"] == 1
    assert steps["eval_retrieval"]["data"]["metrics"] and steps["eval_grounded"]["data"]["metrics"]
    assert steps["gate"]["data"]["status"] and Path(steps["report"]["data"]["dashboard"]).is_file()
    dump = steps["dump"]
    assert dump["data"]["identical"] is True and "byte-identical to the restored store" in dump["summary"]
    assert files_of(Path(dump["data"]["out"])) == files_of(golden)  # the final dump, byte for byte
    outside = steps["schema"]["data"]["outside"]
    assert outside["app.documents"].startswith("1 row(s)") and outside["app.doc_chunks"].startswith("1 row(s)")
    assert dump["data"]["outside"] == outside
    # in the database the demo left: the restored records in the application's tables, the draft as it was
    docs, chunks, golden_chunks = app_rows(project / ".goldkeeper" / "demo")
    assert docs[-1] == (DRAFT, "draft", "Roadmap (unreleased draft)") and len(docs) == 2
    assert docs[0][1] == "completed"
    assert (DRAFT, 0, "Drafts > Roadmap", False, False) in chunks
    assert [c[3:] for c in chunks if c[0] != DRAFT] == [(True, True), (True, True)]
    assert not golden_chunks  # nothing went to goldkeeper's reference tables

    code, out, err = run(["demo", "--mapped"], capsys)  # the text output names the mapping file to copy
    assert code == 0, err
    assert f"its mapping {package_file(MAPPING_FILE)} (copy its database: section" in out
    assert "byte-identical to the restored store" in out and "rows outside the where are untouched" in out


def _sql_step(statement: str) -> DemoStep:
    def change(ctx) -> StepResult:
        with psycopg.connect(ctx.url) as conn:
            conn.execute(statement)
        return StepResult("changed the application's tables")

    return DemoStep("change", change)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE app.doc_chunks SET body = body || '!' WHERE doc_id <> '" + DRAFT + "'", "differs from the restored"),
        ("UPDATE app.documents SET name = 'edited' WHERE state = 'draft'", "rows outside the where changed in"),
    ],
)
def test_the_final_dump_step_fails_on_a_difference(project: Path, statement: str, message: str) -> None:
    quick_project(project)
    settings = load_settings(root=project, env={})
    steps = [MAPPED_STEPS[0], MAPPED_STEPS[1], _sql_step(statement), MAPPED_STEPS[-1]]
    with pytest.raises(DataIntegrityError, match=message):
        run_demo(settings, mapped=True, steps=steps)
    assert not EmbeddedServer(project / ".goldkeeper" / "demo").status().running


@pytest.mark.slow
def test_plain_demo_sets_a_database_section_aside(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quick_project(project, yaml.safe_dump({"database": MAPPING}))
    assert load_settings(root=project, env={}).database is not None
    code, out, err = run(["demo"], capsys)
    assert code == 0, err
    assert out.splitlines()[1] == (
        "params.yaml's database: section is not used: the demo database is not yours, it has goldkeeper's "
        "reference schema golden (try `goldkeeper demo --mapped`)"
    )
    assert "golden/ -> database: 1 analyses (2 chunks), 2 queries" in out and "  report  " in out
    assert "files and database: valid" in out


def test_the_example_schema_and_mapping_are_package_data() -> None:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["goldkeeper"]
    for name in (SCHEMA_FILE, MAPPING_FILE, "example_rows.sql"):
        assert package_file(name).is_file()
        assert any(Path("demo", name).match(p) for p in patterns), name
    database = yaml.safe_load(package_file(MAPPING_FILE).read_text())["database"]
    assert database["tables"]["analyses"]["where"] and database["tables"]["chunks"]["embedding"]["column"] == "emb"
