"""dump / restore against the real embedded PostgreSQL with the real vendored embedding model."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from golden_support import fingerprint, make_records, store_bytes
from goldkeeper.config import EmbeddingParams, Settings, load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.db.reader import golden_reader, iter_analyses, iter_queries
from goldkeeper.embed import load_embedder
from goldkeeper.errors import (
    ConflictError,
    DatabaseError,
    DataIntegrityError,
    RecordValidationError,
    VerificationFailed,
)
from goldkeeper.store import write_store


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(EmbeddingParams())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(root=tmp_path, env={})


def test_restore_then_dump_gives_the_records_back(database_url, embedder, settings, tmp_path):
    analyses, queries = make_records(4)
    report = restore_records(database_url, analyses, queries, embedder)
    assert report.analyses.added == tuple(sorted(str(a.id) for a in analyses))
    assert len(report.queries.added) == len(queries)
    assert report.chunks_embedded == 12
    assert list(iter_analyses(database_url, ["completed"])) == sorted(
        (a.canonical() for a in analyses), key=lambda a: str(a.id)
    )
    assert list(iter_queries(database_url)) == sorted((q.canonical() for q in queries), key=lambda q: q.id)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT embedding_model), min(embedding_model) FROM golden.chunks WHERE embedding IS NOT NULL"
        ).fetchone()
    assert row == (12, 1, embedder.model_id)


def test_dump_restore_replace_dump_is_byte_identical(database_url, embedder, settings, tmp_path):
    analyses, queries = make_records(5)
    restore_records(database_url, analyses, queries, embedder)
    first = dump(database_url, settings, tmp_path / "one")
    before = store_bytes(tmp_path / "one")
    with psycopg.connect(database_url) as conn:  # damage the data by hand
        conn.execute("UPDATE golden.analyses SET title = 'vandalised' WHERE url LIKE '%Article_1'")
        conn.execute("DELETE FROM golden.queries WHERE id = 'q-0002'")
        conn.execute("DELETE FROM golden.chunks WHERE chunk_index = 2")
    report = restore_store(database_url, tmp_path / "one", embedder, replace=True)
    assert len(report.analyses.replaced) == 5 and report.queries.added == ("q-0002",)
    second = dump(database_url, settings, tmp_path / "one")
    assert store_bytes(tmp_path / "one") == before
    assert second.version == first.version and not second.changed


def test_dump_only_wanted_statuses(database_url, embedder, tmp_path):
    analyses, queries = make_records(3)
    analyses[1] = analyses[1].model_copy(update={"status": "draft"})
    restore_records(database_url, analyses, queries, embedder)
    settings = load_settings(root=tmp_path, env={}, overrides={"dump": {"statuses": ["completed"]}})
    report = dump(database_url, settings, tmp_path / "g")
    assert report.counts["analyses"] == 2 and report.counts["chunks"] == 6
    settings = load_settings(root=tmp_path, env={}, overrides={"dump": {"statuses": ["completed", "draft"]}})
    assert dump(database_url, settings, tmp_path / "g").counts["analyses"] == 3


def test_identical_records_are_skipped(database_url, embedder):
    analyses, queries = make_records(3)
    restore_records(database_url, analyses, queries, embedder)
    before = fingerprint(database_url)
    report = restore_records(database_url, analyses, queries, embedder)
    assert report.analyses.counts() == {"added": 0, "skipped": 3, "replaced": 0, "removed": 0, "conflicts": 0}
    assert len(report.queries.skipped) == len(queries)
    assert report.chunks_embedded == 0
    assert fingerprint(database_url) == before


def test_new_records_are_added_next_to_existing_ones(database_url, embedder):
    analyses, queries = make_records(4)
    restore_records(database_url, analyses[:2], queries[:2], embedder)
    report = restore_records(database_url, analyses, queries, embedder)
    assert report.analyses.added == tuple(sorted(str(a.id) for a in analyses[2:]))
    assert len(report.analyses.skipped) == 2
    assert report.chunks_embedded == 6


def test_conflicting_records_are_listed_and_nothing_changes(database_url, embedder):
    analyses, queries = make_records(4)
    restore_records(database_url, analyses, queries, embedder)
    changed = analyses[2].model_copy(
        update={
            "chunks": [
                c.model_copy(update={"content": "edited"}) if c.chunk_index == 1 else c for c in analyses[2].chunks
            ]
        }
    )
    changed_query = queries[0].model_copy(update={"tags": ["retagged"]})
    extra, _ = make_records(6)
    before = fingerprint(database_url)
    with pytest.raises(ConflictError) as info:
        restore_records(
            database_url, [*analyses[:2], changed, analyses[3], extra[5]], [changed_query, *queries[1:]], embedder
        )
    assert info.value.details["analyses"] == [str(analyses[2].id)]
    assert info.value.details["queries"] == [queries[0].id]
    assert str(analyses[2].id) in str(info.value) and queries[0].id in str(info.value)
    assert fingerprint(database_url) == before  # the new analysis extra[5] was not added either


def test_dry_run_reports_and_changes_nothing(database_url, embedder):
    analyses, queries = make_records(4)
    restore_records(database_url, analyses[:3], queries[:3], embedder)
    before = fingerprint(database_url)
    changed = analyses[0].model_copy(update={"title": "retitled"})
    report = restore_records(database_url, [changed, *analyses[1:]], queries, embedder, dry_run=True)
    assert report.dry_run
    assert report.analyses.conflicts == (str(analyses[0].id),)
    assert report.analyses.added == (str(analyses[3].id),)
    assert len(report.analyses.skipped) == 2
    without_1 = [q for q in queries if q.id != "q-0001"]
    report = restore_records(database_url, [changed, *analyses[2:]], without_1, embedder, dry_run=True, replace=True)
    assert report.analyses.replaced == (str(analyses[0].id),)
    assert report.analyses.removed == (str(analyses[1].id),)
    assert report.queries.removed == ("q-0001",)
    assert report.chunks_embedded == 0
    assert fingerprint(database_url) == before


def test_dry_run_on_an_empty_database_creates_nothing(database_url, embedder):
    analyses, queries = make_records(2)
    report = restore_records(database_url, analyses, queries, embedder, dry_run=True)
    assert len(report.analyses.added) == 2
    assert all(value is None for value in fingerprint(database_url).values())


def test_replace_removes_rows_not_in_the_store_and_keeps_identical_embeddings(database_url, embedder):
    analyses, queries = make_records(4)
    restore_records(database_url, analyses, queries, embedder)
    with psycopg.connect(database_url) as conn:
        kept = conn.execute(
            "SELECT embedding::text FROM golden.chunks WHERE id = %s", (analyses[0].chunks[0].id,)
        ).fetchone()
    report = restore_records(database_url, analyses[:2], queries[:1], embedder, replace=True)
    assert report.analyses.removed == tuple(sorted(str(a.id) for a in analyses[2:]))
    assert report.chunks_embedded == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM golden.chunks").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM golden.queries").fetchone() == (1,)
        assert (
            conn.execute(
                "SELECT embedding::text FROM golden.chunks WHERE id = %s", (analyses[0].chunks[0].id,)
            ).fetchone()
            == kept
        )


def test_bad_record_in_store_changes_nothing(database_url, embedder, tmp_path):
    analyses, queries = make_records(3)
    restore_records(database_url, analyses, queries, embedder)
    before = fingerprint(database_url)
    more, more_queries = make_records(5, tag=" v2")
    store = tmp_path / "store"
    write_store(store, "t", more, more_queries, {"analyses": 2, "queries": 2})
    shard = next(p for p in sorted((store / "queries").glob("*.json")) if b"q-0004" in p.read_bytes())
    shard.write_bytes(shard.read_bytes().replace(b'"difficulty": "easy"', b'"difficulty": "impossible"', 1))
    with pytest.raises(DataIntegrityError, match="sha256"):
        restore_store(database_url, store, embedder, replace=True)
    # the same broken record with a matching checksum: the schema check names file, record and field
    write_store(store, "t", more, more_queries, {"analyses": 2, "queries": 2})
    bad = more_queries[4].model_dump(mode="json") | {"difficulty": "impossible"}
    import orjson

    from goldkeeper.store.canonical import canonical_bytes, sha256_hex

    manifest = orjson.loads((store / "manifest.json").read_bytes())
    for entry in manifest["shards"]:
        path = store / entry["path"]
        records = orjson.loads(path.read_bytes())
        if any(r["id"] == "q-0004" for r in records):
            path.write_bytes(canonical_bytes([bad if r["id"] == "q-0004" else r for r in records]))
            entry["sha256"] = sha256_hex(path.read_bytes())
    (store / "manifest.json").write_bytes(canonical_bytes(manifest))
    with pytest.raises(VerificationFailed) as info:
        restore_store(database_url, store, embedder, replace=True)
    (issue,) = info.value.report.errors
    assert (issue.code, issue.record_id, issue.field) == ("record.schema", "q-0004", "difficulty")
    assert issue.render() in str(info.value)
    assert fingerprint(database_url) == before


def test_reference_to_a_missing_chunk_is_refused_before_the_database(database_url, embedder, tmp_path):
    analyses, queries = make_records(3)
    store = tmp_path / "store"
    write_store(store, "t", analyses[1:], queries, {"analyses": 2, "queries": 2})
    with pytest.raises(VerificationFailed, match=r"expected chunk .* does not exist in the store") as info:
        restore_store(database_url, store, embedder)
    assert {(i.code, i.record_id) for i in info.value.report.errors} == {
        ("query.dangling_chunk", "q-0000"),
        ("query.dangling_analysis", "q-0000"),
    }
    assert all(value is None for value in fingerprint(database_url).values())


def test_failure_inside_the_transaction_rolls_everything_back(database_url, embedder):
    analyses, queries = make_records(3)
    restore_records(database_url, analyses, queries, embedder)
    before = fingerprint(database_url)
    more, more_queries = make_records(6, tag=" v2")
    # records given directly (no store validation): the dangling reference is found after the inserts
    with pytest.raises(DataIntegrityError, match="q-0004 -> chunk"):
        restore_records(database_url, more[:4], more_queries, embedder, replace=True)
    assert fingerprint(database_url) == before


def test_chunk_id_owned_by_another_analysis_is_a_conflict(database_url, embedder):
    analyses, queries = make_records(2)
    restore_records(database_url, analyses, [], embedder)
    before = fingerprint(database_url)
    thief = make_records(3)[0][2]
    thief = thief.model_copy(update={"chunks": [thief.chunks[0].model_copy(update={"id": analyses[0].chunks[0].id})]})
    with pytest.raises(ConflictError, match=str(analyses[0].chunks[0].id)):
        restore_records(database_url, [thief], [], embedder)
    assert fingerprint(database_url) == before


def test_nul_characters_are_refused_with_the_field_named(database_url, embedder):
    analyses, _ = make_records(1)
    bad = analyses[0].model_copy(update={"title": "a\x00b"})
    with pytest.raises(RecordValidationError, match="NUL") as info:
        restore_records(database_url, [bad], [], embedder)
    assert info.value.field == "title"


def test_password_never_appears_in_database_errors(embedder):
    with pytest.raises(DatabaseError) as info:
        restore_records("postgresql://gk:s3cr3t-pw@127.0.0.1:1/nowhere", [], [], embedder)
    assert "s3cr3t-pw" not in str(info.value) and "***" in str(info.value)


def test_dump_without_schema_is_a_clear_error(database_url, settings, tmp_path):
    with pytest.raises(DatabaseError, match="no golden schema"):
        dump(database_url, settings, tmp_path / "g")
    assert not (tmp_path / "g").exists()


def test_restore_waits_for_the_golden_advisory_lock(database_url, embedder):
    import threading
    import time

    from goldkeeper.db.schema import ADVISORY_LOCK_KEY

    analyses, queries = make_records(2)
    result: dict[str, object] = {}
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        worker = threading.Thread(
            target=lambda: result.update(report=restore_records(database_url, analyses, queries, embedder))
        )
        worker.start()
        deadline = time.monotonic() + 30
        waiting = None
        while time.monotonic() < deadline and waiting is None:
            waiting = holder.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
                (ADVISORY_LOCK_KEY & 0xFFFFFFFF,),
            ).fetchone()
            time.sleep(0.02)
        assert waiting is not None, "the restore did not wait for the lock"
        assert "report" not in result
        holder.rollback()  # releases the lock
        worker.join(timeout=120)
    assert len(result["report"].analyses.added) == 2  # type: ignore[attr-defined]


def test_dump_reads_one_consistent_snapshot(database_url, embedder):
    analyses, queries = make_records(4)
    restore_records(database_url, analyses, queries, embedder)
    with golden_reader(database_url, ["completed"]) as (analyses_stream, queries_stream):
        dumped = list(analyses_stream)
        with psycopg.connect(database_url) as conn:  # a writer commits between the two streams
            conn.execute("DELETE FROM golden.queries WHERE id = 'q-0001'")
            conn.execute("UPDATE golden.queries SET text = 'changed meanwhile'")
            conn.execute("DELETE FROM golden.analyses WHERE url LIKE '%Article_2'")
        dumped_queries = list(queries_stream)
    assert dumped == sorted((a.canonical() for a in analyses), key=lambda a: str(a.id))
    assert dumped_queries == sorted((q.canonical() for q in queries), key=lambda q: q.id)
    assert len(list(iter_queries(database_url))) == len(queries) - 1  # a new reader sees the change


def test_abandoned_reader_closes_cleanly(database_url, embedder):
    analyses, queries = make_records(6, chunks=4, words=3)
    restore_records(database_url, analyses, queries, embedder)
    with golden_reader(database_url, ["completed"]) as (analyses_stream, _):
        assert next(analyses_stream).chunks
    assert len(list(iter_analyses(database_url, ["completed"]))) == 6


def _hnsw_oid(url: str) -> int | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass('golden.chunks_embedding_hnsw')::oid::int").fetchone()[0]


@pytest.mark.slow
def test_large_restore_rebuilds_the_hnsw_index_once(database_url, embedder):
    from goldkeeper.db.schema import init_schema

    init_schema(database_url, embedder.dim)
    created = _hnsw_oid(database_url)
    small, small_queries = make_records(2)
    restore_records(database_url, small, small_queries, embedder)
    assert _hnsw_oid(database_url) == created  # a few vectors: the index is maintained
    analyses, queries = make_records(26, chunks=20, words=2)  # 520 chunks to embed >= HNSW_REBUILD_MIN_ROWS
    report = restore_records(database_url, analyses, queries, embedder, replace=True)
    assert report.chunks_embedded == 520
    assert _hnsw_oid(database_url) not in (None, created)  # dropped, then built once
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('golden.chunks_embedding_hnsw')"
        ).fetchone() == (True,)
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT id FROM golden.chunks ORDER BY embedding <=> (SELECT embedding FROM golden.chunks LIMIT 1) LIMIT 5"
            ).fetchall()
        )
        assert "chunks_embedding_hnsw" in plan
        assert conn.execute("SELECT count(*) FROM golden.chunks WHERE embedding IS NULL").fetchone() == (0,)


def test_references_broken_by_hand_do_not_block_an_unrelated_restore(database_url, embedder):
    analyses, queries = make_records(4)
    restore_records(database_url, analyses[:3], queries[:3], embedder)
    with psycopg.connect(database_url) as conn:  # breaks q-0000's expectations
        conn.execute("DELETE FROM golden.analyses WHERE id = %s", (analyses[0].id,))
    report = restore_records(database_url, analyses[3:], queries[3:], embedder)
    assert report.analyses.added == (str(analyses[3].id),)
    # ...but a restore that would itself leave a dangling reference is refused
    with pytest.raises(DataIntegrityError, match="q-new -> "):
        restore_records(database_url, [], [queries[0].model_copy(update={"id": "q-new"})], embedder)
