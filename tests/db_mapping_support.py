"""An application schema unlike goldkeeper's and its params ``database:`` mapping (issue 12 tests)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg

from embed_command_support import write_program
from goldkeeper.config import EmbeddingParams, validate_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.embed import load_embedder

APP_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA app;
CREATE TABLE app.documents (doc_id text PRIMARY KEY, source_url text NOT NULL, name text NOT NULL,
    state text NOT NULL DEFAULT 'draft', published_at timestamp NOT NULL, owner text DEFAULT 'team');
CREATE TABLE app.doc_chunks (chunk_id text PRIMARY KEY, doc_id text NOT NULL REFERENCES app.documents (doc_id),
    body text NOT NULL, ord bigint NOT NULL, heading text, path text NOT NULL DEFAULT '', emb vector({dim}),
    emb_model text);
CREATE TABLE app.summaries (sid uuid PRIMARY KEY, doc_id text NOT NULL REFERENCES app.documents (doc_id),
    summary text NOT NULL, points text[] NOT NULL DEFAULT '{{}}', meta jsonb NOT NULL DEFAULT '{{}}');
CREATE TABLE app.notes (doc_id text NOT NULL REFERENCES app.documents (doc_id), pos int NOT NULL, who text NOT NULL,
    kind text NOT NULL, note text NOT NULL, PRIMARY KEY (doc_id, pos));
"""

MAPPING: dict[str, Any] = {
    "tables": {
        "analyses": {
            "table": "app.documents",
            "columns": {
                "id": "doc_id",
                "url": "source_url",
                "title": "name",
                "created_at": "published_at",
                "status": "state",
            },
            "where": "state = 'published'",
        },
        "chunks": {
            "table": "app.doc_chunks",
            "columns": {
                "id": "chunk_id",
                "analysis_id": "doc_id",
                "content": "body",
                "chunk_index": "ord",
                "section_title": "heading",
                "section_path": "path",
            },
            "separators": {"section_path": " > "},
            "embedding": {"column": "emb", "model_column": "emb_model"},
        },
        "artifacts": {
            "table": "app.summaries",
            "columns": {
                "id": "sid",
                "analysis_id": "doc_id",
                "summary": "summary",
                "key_findings": "points",
                "metadata": "meta",
            },
        },
        "findings": {
            "table": "app.notes",
            "columns": {
                "analysis_id": "doc_id",
                "ordinal": "pos",
                "agent": "who",
                "category": "kind",
                "content": "note",
            },
        },
    }
}

DOC = [str(uuid.UUID(int=i + 1)) for i in range(3)]


def app_database(url: str, *, rows: bool = True, dim: int = 384) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(APP_SCHEMA.format(dim=dim))
        if not rows:
            return
        for i, state in enumerate(("published", "published", "draft")):
            conn.execute(
                "INSERT INTO app.documents VALUES (%s, %s, %s, %s, %s)",
                (DOC[i], f"https://docs.test/{i}", f"Doc {i}", state, f"2024-0{i + 1}-02 10:00:00"),
            )
            for j in range(2):
                conn.execute(
                    "INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord, heading, path) VALUES (%s,%s,%s,%s,%s,%s)",
                    (
                        str(uuid.UUID(int=100 + 10 * i + j)),
                        DOC[i],
                        f"text {i}.{j}",
                        j,
                        "Intro" if j else None,
                        "Part A > Intro" if j else "",
                    ),
                )
        conn.execute(
            "INSERT INTO app.summaries VALUES (%s, %s, 'short', ARRAY['a','b'], '{\"k\": 1}')",
            (str(uuid.UUID(int=999)), DOC[0]),
        )
        conn.execute(
            "INSERT INTO app.notes VALUES (%s, 0, 'reviewer', 'accuracy', 'checked'), (%s, 1, 'bot', 'style', 'ok')",
            (DOC[1], DOC[1]),
        )


def settings_for(tmp_path: Path, mapping: dict[str, Any] | None = MAPPING) -> Any:
    values: dict[str, Any] = {"root": tmp_path}
    if mapping is not None:
        values["database"] = mapping
    return validate_settings(values)


def restored_app(source: str, target: str, tmp_path: Path, dim: int, **embedding_params: Any) -> tuple[Any, Any]:
    """(settings, embedder): the application database ``source`` (with rows) dumped through :data:`MAPPING` to
    ``tmp_path/golden`` and restored into ``target`` (the application schema, empty), embedded by a command
    model of ``dim`` dimensions (``embedding_params``: more of its settings); the rubric asks for no prompts
    (the queries live in goldkeeper's tables)."""
    program = write_program(tmp_path / "embedder", dim)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=dim, **embedding_params)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings(
        {
            "root": tmp_path,
            "database": MAPPING,
            "embedding": embedding.model_dump(),
            "rubric": {"min_prompts": 0, "min_domains": 0},
        }
    )
    app_database(source, dim=dim)
    app_database(target, rows=False, dim=dim)
    dump(source, settings, tmp_path / "golden")
    restore_store(target, tmp_path / "golden", embedder, settings=settings)
    return settings, embedder
