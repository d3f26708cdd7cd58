"""`goldkeeper init --from-database` on a real embedded PostgreSQL: params database: inferred from the schema,
`db check` and a dump through it; an ambiguous schema is one line per gap, `# TODO`s, exit 3; an existing
params.yaml is refused without --force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from goldkeeper.config import load_settings
from goldkeeper.db.catalogue import read_catalogue
from goldkeeper.store import open_store, sha256_hex

GOLDKEEPER = str(Path(sys.executable).parent / "goldkeeper")

SKILLFORGE = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE analyses (id uuid PRIMARY KEY, url text NOT NULL, title text NOT NULL,
    content_type text NOT NULL DEFAULT 'text', status text NOT NULL DEFAULT 'completed', created_at timestamptz NOT NULL);
CREATE TABLE chunks (id uuid PRIMARY KEY, analysis_id uuid NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    content text NOT NULL, section_title text, section_path text, content_type text NOT NULL DEFAULT 'text',
    chunk_index integer NOT NULL, embedding vector(384), embedding_model text);
CREATE TABLE artifacts (id uuid PRIMARY KEY, analysis_id uuid NOT NULL UNIQUE REFERENCES analyses (id),
    summary text NOT NULL, key_findings jsonb NOT NULL DEFAULT '[]', metadata jsonb NOT NULL DEFAULT '{}');
CREATE TABLE users (id serial PRIMARY KEY, email text);
"""
AID = [str(uuid.UUID(int=i + 1)) for i in range(2)]


def skillforge_database(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SKILLFORGE)
        for i, aid in enumerate(AID):
            conn.execute(
                "INSERT INTO analyses (id, url, title, created_at) VALUES (%s, %s, %s, '2024-05-01T10:00:00Z')",
                (aid, f"https://docs.python.org/3/library/page{i}.html", f"Page {i}"),
            )
            for j in range(2):
                conn.execute(
                    "INSERT INTO chunks (id, analysis_id, content, section_title, chunk_index) VALUES (%s,%s,%s,%s,%s)",
                    (str(uuid.UUID(int=100 + 10 * i + j)), aid, f"Text {i}.{j} about the library.", "Intro", j),
                )
        conn.execute(
            "INSERT INTO artifacts (id, analysis_id, summary, key_findings) VALUES (%s, %s, 'short', '[\"a\"]')",
            (str(uuid.UUID(int=999)), AID[0]),
        )


def run(args: list[str], cwd: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL")}
    if url is not None:
        env["GOLDKEEPER_DATABASE_URL"] = url
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    return root


def test_the_catalogue_of_a_live_schema(database_url: str) -> None:
    skillforge_database(database_url)
    catalogue = read_catalogue(database_url)
    tables = {t.qualified: t for t in catalogue.tables}
    assert set(tables) == {"public.analyses", "public.chunks", "public.artifacts", "public.users"}
    chunks = tables["public.chunks"]
    assert chunks.primary_key == ("id",)
    [key] = chunks.foreign_keys
    assert (key.columns, key.target, key.target_columns) == (("analysis_id",), "public.analyses", ("id",))
    embedding = chunks.column("embedding")
    assert embedding is not None and embedding.is_vector and embedding.vector_dim == 384
    created = tables["public.analyses"].column("created_at")
    assert created is not None and created.type == "timestamp with time zone" and created.not_null
    assert not catalogue.reference_schema


@pytest.mark.slow
def test_a_skillforge_schema_gives_a_complete_mapping_that_checks_and_dumps(repo: Path, database_url: str) -> None:
    skillforge_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE chunks SET section_path = 'Guide > Intro' WHERE analysis_id = '{AID[0]}'")
    proc = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url], repo)
    # the one thing it could not infer, a path held as text (no separator to read from a schema), is a TODO:
    # exit 3 and no dump (dumped now, every chunk's section_path would be lost)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[:-1] == [
        "database: database.tables.chunks.columns.section_path: public.chunks.section_path is text, which cannot "
        "hold text[] without loss (a path stored as text: declare separators.section_path and map it)"
    ]
    assert proc.stderr.splitlines()[-1].startswith("error: params.yaml: the database: mapping is not usable yet (1 ")
    assert "goldkeeper dump" not in proc.stdout.split("next:")[0] and not (repo / "golden").exists()
    text = (repo / "params.yaml").read_text()
    assert "# TODO section_path: public.chunks.section_path is text" in text
    params = yaml.safe_load(text)
    database = params["database"]["tables"]
    assert database["analyses"]["table"] == "public.analyses"
    assert database["chunks"]["embedding"] == {"column": "embedding", "model_column": "embedding_model"}
    assert database["artifacts"]["columns"]["summary"] == "summary"
    assert "users" not in text
    # the TODO filled in: db check passes and the dump keeps the path
    database["chunks"]["columns"]["section_path"] = "section_path"
    database["chunks"]["separators"] = {"section_path": " > "}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    check = run([GOLDKEEPER, "db", "check", "--json"], repo, database_url)
    assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout + check.stderr
    dumped = run([GOLDKEEPER, "dump", "--json"], repo, database_url)
    assert dumped.returncode == 0, dumped.stderr
    store = open_store(repo / "golden")
    assert store.manifest.counts["analyses"] == 2 and store.manifest.counts["chunks"] == 4
    assert store.manifest.counts["artifacts"] == 1
    paths = [c.section_path for a in store.analyses() for c in a.chunks]
    assert paths == [["Guide", "Intro"], ["Guide", "Intro"], [], []]
    assert load_settings(root=repo, env={}).embedding.cache == "file"


@pytest.mark.slow
def test_an_ambiguous_schema_is_reported_with_todos_and_exit_3(repo: Path, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SKILLFORGE)
        conn.execute("CREATE TABLE documents (id uuid PRIMARY KEY, url text, title text, created_at timestamptz)")
        conn.execute("ALTER TABLE chunks ADD COLUMN embedding_large vector(1024)")
    proc = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url], repo)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert "database: database.tables.analyses.table: 2 candidate tables (public.analyses, public.documents): " \
        "name the one to use" in lines  # fmt: skip
    assert "database: database.tables.chunks.embedding: 2 vector columns in public.chunks (embedding, " \
        "embedding_large): name the one to use" in lines  # fmt: skip
    assert lines[-1].startswith("error: params.yaml: the database: mapping is not usable yet")
    assert "Traceback" not in proc.stderr
    text = (repo / "params.yaml").read_text()
    assert "    # TODO analyses: 2 candidate tables (public.analyses, public.documents)" in text
    assert "      # TODO embedding: 2 vector columns in public.chunks (embedding, embedding_large)" in text
    # the rest of init is done; golden/ waits for a usable mapping, and the next commands say so
    assert (repo / "dvc.yaml").is_file() and (repo / ".dvc").is_dir() and not (repo / "golden").exists()
    assert "goldkeeper db check && goldkeeper dump" in proc.stdout
    # until the TODOs are filled in, params.yaml does not load: every command says what is missing
    check = run([GOLDKEEPER, "db", "check"], repo, database_url)
    assert check.returncode == 3 and "tables.chunks: required field 'analysis_id' is not mapped" in check.stderr
    assert "    # TODO analysis_id: the analyses' table is not known (database.tables.analyses.table)" in text


def test_an_existing_params_yaml_is_refused_without_force(repo: Path, database_url: str) -> None:
    skillforge_database(database_url)
    (repo / "params.yaml").write_text("dataset:\n  name: mine\n")
    proc = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url], repo)
    assert proc.returncode == 2
    assert "params.yaml exists" in proc.stderr and "--force" in proc.stderr
    assert (repo / "params.yaml").read_text() == "dataset:\n  name: mine\n"
    assert sorted(p.name for p in repo.iterdir()) == [".git", "params.yaml"]  # nothing else written either


@pytest.mark.slow
def test_a_complete_mapping_that_db_check_refuses_is_exit_3_with_its_problems(repo: Path, database_url: str) -> None:
    """A production model's vector(1024) is mapped, but the configured model embeds 384: db check says so."""
    skillforge_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector(1024) USING NULL")
        conn.execute("ALTER TABLE chunks ALTER COLUMN section_path TYPE text[] USING NULL")  # no TODO: mapped
    proc = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url, "--json"], repo)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["database"]["todo"] == [] and not result["database"]["ok"]
    assert result["database"]["problems"] == ["public.chunks.embedding: vector(1024), but the model embeds vector(384)"]
    assert "database: public.chunks.embedding: vector(1024), but the model embeds vector(384)" in proc.stderr
    assert "goldkeeper dump" not in result["ran"] and not (repo / "golden").exists()
    assert "vector(1024): the embedding model must embed 1024 dimensions" in (repo / "params.yaml").read_text()


@pytest.mark.slow
def test_a_table_that_looks_like_the_queries_is_named_in_one_line_and_a_comment(repo: Path, database_url: str) -> None:
    """Queries are never inferred, but a table named like them is said (not a TODO: init still dumps)."""
    skillforge_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE chunks ALTER COLUMN section_path TYPE text[] USING NULL")
        conn.execute("CREATE TABLE eval_prompts (id text PRIMARY KEY, body text NOT NULL)")
    proc = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url], repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    note = (
        "a table public.eval_prompts may hold your golden queries: map it under database.tables.queries "
        "(docs/configuration.md)"
    )
    assert proc.stderr.splitlines() == [f"database: {note}"]
    assert f"    # queries: {note}\n" in (repo / "params.yaml").read_text()
    assert "queries" not in yaml.safe_load((repo / "params.yaml").read_text())["database"]["tables"]
    assert open_store(repo / "golden").manifest.counts["analyses"] == 2


#: a schema and columns whose names hold what YAML and terminals read as syntax: a line break followed by a key,
#: an ESC sequence, YAML's own line separator, and an emoji (outside the BMP: JSON writes it as a surrogate pair)
HOSTILE_SCHEMA = "Émoji 🚀\nevil: 1 #"
HOSTILE = f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA "{HOSTILE_SCHEMA}";
CREATE TABLE "{HOSTILE_SCHEMA}".documents (id uuid PRIMARY KEY, url text NOT NULL, title text NOT NULL,
    created_at timestamptz NOT NULL);
CREATE TABLE "{HOSTILE_SCHEMA}".chunks (id uuid PRIMARY KEY,
    analysis_id uuid NOT NULL REFERENCES "{HOSTILE_SCHEMA}".documents, content text NOT NULL,
    chunk_index int NOT NULL, "v1\x1b[31mred" vector(384), "v2\u2028x: 1" vector(384));
"""


def test_catalogue_names_are_written_into_params_yaml_as_inert_text(repo: Path, database_url: str) -> None:
    """Names read from the database land in params.yaml's values and comments: a line break in a comment made
    the rest of the line YAML (a key of params.yaml), a raw ESC made it unreadable, an emoji was written as a
    surrogate pair that YAML reads back as another name; on stderr, the ESC reached the terminal."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(HOSTILE)
    proc = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url], repo)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    assert not {"evil", "x"} & set(params) and not {"evil", "x"} & set(params["database"]["tables"]["chunks"])
    assert params["database"]["tables"]["analyses"]["table"] == f"{HOSTILE_SCHEMA}.documents"
    [gap] = [line for line in proc.stderr.splitlines() if line.startswith("database: ")]
    assert "2 vector columns" in gap and "\x1b" not in proc.stderr, proc.stderr


def test_init_force_from_database_writes_the_database_over_a_store_edited_since_its_restore(
    repo: Path, database_url: str
) -> None:
    """`init --force --from-database` asks for golden/ to be what the database holds: when the database still held the
    version it was restored from and golden/ had moved on, the dump guard refused it (exit 5, init half done)."""
    from goldkeeper.db.state import write_dataset_state  # noqa: PLC0415 - the test's own set-up

    skillforge_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE chunks ALTER COLUMN section_path TYPE text[] USING NULL")
    first = run([GOLDKEEPER, "init", "--from-database", "--database-url", database_url], repo)
    assert first.returncode == 0, first.stdout + first.stderr
    dumped = open_store(repo / "golden").version
    assert run([GOLDKEEPER, "db", "init", "--database-url", database_url], repo).returncode == 0
    with psycopg.connect(database_url) as conn:  # what `restore` of that store records
        write_dataset_state(conn, dataset=None, version=dumped, model_id="m", source="golden", replace=True)
    shard = next((repo / "golden" / "analyses").glob("*.json"))
    shard.write_text(shard.read_text().replace("Page 0", "Page zero"))
    manifest = json.loads((repo / "golden" / "manifest.json").read_text())  # what `fmt` recomputes (a teammate's)
    for entry in manifest["shards"]:
        if entry["path"] == shard.relative_to(repo / "golden").as_posix():
            entry["sha256"] = sha256_hex(shard.read_bytes())
    (repo / "golden" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert open_store(repo / "golden").version != dumped
    proc = run([GOLDKEEPER, "init", "--force", "--from-database", "--database-url", database_url], repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert open_store(repo / "golden").version == dumped
