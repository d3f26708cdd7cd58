"""A schema an ORM made (Prisma, Django, Rails) behind params ``database:``: what goldkeeper does with it."""

from __future__ import annotations

from pathlib import Path

import orjson
import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import MAPPING, app_database
from golden_support import make_analysis


def _params(project: Path, mapping: dict[str, object] = MAPPING) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump({"database": mapping, "rubric": {"min_prompts": 0}}))


def test_import_writes_through_the_mapping_into_the_applications_tables(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url, rows=False)
    _params(project)
    analysis = make_analysis(1, chunks=2).model_copy(update={"status": "published", "findings": []})
    (project / "a.jsonl").write_bytes(orjson.dumps(analysis.model_dump(mode="json")) + b"\n")
    code, _, err = run_cli(["--database-url", database_url, "import", "jsonl", "a.jsonl"], capsys)
    assert code == 0, err
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT doc_id, state FROM app.documents").fetchall() == [(str(analysis.id), "published")]
        assert conn.execute("SELECT count(*) FROM app.doc_chunks WHERE emb IS NOT NULL").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (0,)
