"""Issue 11 item 2: verify rejects what restore cannot load (NUL characters, a chunk over PostgreSQL's
tsvector limit, duplicate JSON object keys, symlinked files), so restore refuses it before the database."""

from __future__ import annotations

import random
import shutil
import string
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from golden_support import fingerprint
from goldkeeper.config import EmbeddingParams, Settings
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.dataset.verify import VerifyReport, verify_store
from goldkeeper.dataset.verify.loadable import MAX_CHUNK_CONTENT_BYTES, TSVECTOR_MAX_BYTES
from goldkeeper.embed import load_embedder
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import RecordValidationError, VerificationFailed
from verify_helpers import (
    build_store,
    edit_shard,
    find_record,
    locate,
    make_analysis,
    read_manifest,
    reseal_shard,
    settings_for,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(EmbeddingParams())


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


def errors_of(report: VerifyReport) -> set[tuple[str, str | None, str | None]]:
    return {(i.code, i.record_id, i.field) for i in report.errors}


def analysis_shard(store: Path, n: int = 0) -> tuple[str, str]:
    aid = str(make_analysis(n).id)
    return aid, locate(store, "analyses", aid)


def unique_words(size: int, seed: int = 11) -> str:
    """``size`` bytes of distinct random lowercase words (the issue's "2 MB chunk of unique words")."""
    rnd = random.Random(seed)
    words: list[str] = []
    total = 0
    while total <= size:
        word = "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(6, 12)))
        words.append(word)
        total += len(word) + 1
    return " ".join(words)[:size]


def url_like(size: int, seed: int = 5) -> str:
    """The costliest text measured for a tsvector (host and path indexed beside the URL): ~2.8 bytes each."""
    rnd = random.Random(seed)
    letters = string.ascii_lowercase
    parts: list[str] = []
    total = 0
    while total <= size:
        part = "".join(rnd.choice(letters) for _ in range(2)) + "." + "".join(rnd.choice(letters) for _ in range(2))
        part += "/" + rnd.choice(letters)
        parts.append(part)
        total += len(part) + 1
    return " ".join(parts)[:size]


# ---------------------------------------------------------------- NUL characters


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r.update(title="a\x00b"), "title"),
        (lambda r: r["chunks"][1].update(content="x\x00"), "chunks.1.content"),
        (lambda r: r["artifact"]["metadata"].update({"k\x00": "v"}), "artifact.metadata.k\\u0000"),
    ],
)
def test_nul_characters_are_errors(store: Path, settings: Settings, edit: Any, field: str) -> None:
    aid, path = analysis_shard(store)
    edit_shard(store, path, lambda raw: edit(find_record(raw, aid)))
    assert errors_of(verify_store(store, settings)) == {("record.nul_character", aid, field)}


def test_nul_in_a_query_is_refused_by_restore_before_the_database(
    store: Path, settings: Settings, database_url: str, embedder: Embedder
) -> None:
    path = locate(store, "queries", "q0001")
    edit_shard(store, path, lambda raw: find_record(raw, "q0001").update(text="what\x00?"))
    with pytest.raises(VerificationFailed, match=r"\[record.nul_character\]"):
        restore_store(database_url, store, embedder, settings=settings, replace=True)
    assert all(value is None for value in fingerprint(database_url).values())


# ---------------------------------------------------------------- PostgreSQL's tsvector limit


def test_a_2_mb_chunk_of_unique_words_is_an_error_and_postgres_would_refuse_it(
    store: Path, settings: Settings, database_url: str
) -> None:
    text = unique_words(2 * 1024 * 1024)
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.ProgramLimitExceeded, match="tsvector"):
        conn.execute("SELECT to_tsvector('english', %s)", (text,))
    aid, path = analysis_shard(store)
    edit_shard(store, path, lambda raw: find_record(raw, aid)["chunks"][2].update(content=text))
    assert errors_of(verify_store(store, settings)) == {("chunk.too_long", aid, "chunks.2.content")}


def test_the_bound_is_safe_for_the_costliest_text_measured(database_url: str) -> None:
    """At the bound, the costliest text measured still fits PostgreSQL's limit, with room to spare."""
    assert MAX_CHUNK_CONTENT_BYTES == TSVECTOR_MAX_BYTES // 5 == 209_715
    cases = {"url-like": url_like(MAX_CHUNK_CONTENT_BYTES), "unique words": unique_words(MAX_CHUNK_CONTENT_BYTES)}
    with psycopg.connect(database_url) as conn:
        for name, text in cases.items():
            assert len(text.encode()) == MAX_CHUNK_CONTENT_BYTES
            size, lexemes = conn.execute(
                "SELECT pg_column_size(v), length(v) FROM to_tsvector('english', %s) AS v", (text,)
            ).fetchone()
            lexeme_bytes = size - 8 - 4 * lexemes  # MAXSTRPOS bounds lexemes + positions, not the header
            assert lexeme_bytes < TSVECTOR_MAX_BYTES / 1.5, (name, lexeme_bytes)


def test_restore_records_refuses_a_chunk_over_the_bound_naming_it(database_url: str, embedder: Embedder) -> None:
    analysis = make_analysis(0)
    chunks = [analysis.chunks[0].model_copy(update={"content": unique_words(MAX_CHUNK_CONTENT_BYTES + 1)})]
    with pytest.raises(RecordValidationError, match=r"chunk.too_long") as info:
        restore_records(database_url, [analysis.model_copy(update={"chunks": chunks})], [], embedder)
    assert info.value.field == "chunks.0.content"
    assert all(value is None for value in fingerprint(database_url).values())


# ---------------------------------------------------------------- int4 columns, expected results listed twice


def test_values_over_int4_and_duplicate_expectations_are_errors(store: Path, settings: Settings) -> None:
    aid, path = analysis_shard(store)
    edit_shard(store, path, lambda raw: find_record(raw, aid)["chunks"][2].update(chunk_index=2**31))
    qpath = locate(store, "queries", "q0002")

    def twice(raw: list[Any]) -> None:
        expected = find_record(raw, "q0002")["expected"]
        expected["chunks"] = expected["chunks"] * 2

    edit_shard(store, qpath, twice)
    assert errors_of(verify_store(store, settings)) == {
        ("record.int_range", aid, "chunks.2.chunk_index"),
        ("query.duplicate_expected", "q0002", "expected.chunks.1.id"),
    }


# ---------------------------------------------------------------- duplicate JSON object keys


def test_duplicate_keys_in_a_shard_are_an_error_not_a_warning(store: Path, settings: Settings) -> None:
    aid, path = analysis_shard(store)
    data = (store / path).read_bytes()
    needle = b'"title": "Article 0",'
    assert needle in data
    data = data.replace(needle, needle + b' "title": "Another title",', 1)
    (store / path).write_bytes(data)
    reseal_shard(store, path, data, len(read_manifest_records(store, path)))
    report = verify_store(store, settings)
    assert {(i.code, i.file) for i in report.errors} == {("shard.duplicate_key", str(store / path))}
    assert "'title'" in report.errors[0].message


def test_duplicate_keys_in_the_manifest_are_an_error(store: Path, settings: Settings) -> None:
    data = (store / "manifest.json").read_bytes()
    data = data.replace(b'"dataset": "verify-test",', b'"dataset": "other", "dataset": "verify-test",', 1)
    (store / "manifest.json").write_bytes(data)
    assert "manifest.duplicate_key" in {i.code for i in verify_store(store, settings).errors}


def read_manifest_records(store: Path, path: str) -> list[Any]:
    return orjson.loads((store / path).read_bytes())


# ---------------------------------------------------------------- symbolic links


def test_a_symlinked_shard_is_an_error_and_never_followed_by_restore(
    store: Path, settings: Settings, tmp_path: Path, database_url: str, embedder: Embedder
) -> None:
    _, path = analysis_shard(store)
    elsewhere = tmp_path / "elsewhere.json"
    shutil.move(store / path, elsewhere)
    (store / path).symlink_to(elsewhere)  # the same bytes: the checksum alone would pass
    # the shard is not read: its records are missing too (counts, references), as for a missing shard
    assert ("shard.symlink", str(store / path)) in {(i.code, i.file) for i in verify_store(store, settings).errors}
    with pytest.raises(VerificationFailed, match=r"\[shard.symlink\]"):
        restore_store(database_url, store, embedder, settings=settings)
    assert all(value is None for value in fingerprint(database_url).values())


def test_a_symlinked_manifest_or_entity_directory_is_an_error(store: Path, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_bytes((store / "manifest.json").read_bytes())
    (store / "manifest.json").unlink()
    (store / "manifest.json").symlink_to(tmp_path / "m.json")
    assert {i.code for i in verify_store(store, settings).errors} == {"manifest.symlink"}
    (store / "manifest.json").unlink()
    shutil.move(tmp_path / "m.json", store / "manifest.json")
    shutil.move(store / "queries", tmp_path / "queries")
    (store / "queries").symlink_to(tmp_path / "queries")
    symlinked = [i.file for i in verify_store(store, settings).errors if i.code == "shard.symlink"]
    assert len(symlinked) == len([s for s in read_manifest(store)["shards"] if s["entity"] == "queries"])


def test_a_symlinked_store_root_is_fine(store: Path, settings: Settings, tmp_path: Path) -> None:
    link = tmp_path / "linked-golden"
    link.symlink_to(store)
    assert verify_store(link, settings).ok(strict=True)
