"""Builders for verify tests: a small valid store, and surgical edits that keep everything else valid."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.config import Settings, validate_settings
from goldkeeper.models import Analysis, Artifact, Chunk, Expected, ExpectedBehavior, Finding, Query, Relevance
from goldkeeper.store import canonical_bytes, sha256_hex, write_store
from goldkeeper.store.sharding import shard_path

DOMAINS = ("history", "science", "law")


def make_analysis(n: int, chunks: int = 3, url: str | None = None) -> Analysis:
    aid = uuid.uuid5(uuid.NAMESPACE_URL, f"verify-analysis-{n}")
    return Analysis(
        id=aid,
        url=url or f"https://en.wikipedia.org/wiki/Article_{n}",
        title=f"Article {n}",
        created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        chunks=[
            Chunk(id=uuid.uuid5(aid, f"c{i}"), content=f"paragraph {i} of article {n}", chunk_index=i)
            for i in range(chunks)
        ],
        findings=[Finding(agent="curator", category="note", content=f"finding about {n}", confidence=0.5)],
        artifact=Artifact(id=uuid.uuid5(aid, "artifact"), summary=f"summary {n}", key_findings=["k"]),
    )


def make_query(n: int, analysis: Analysis, refuse: bool = False) -> Query:
    return Query(
        id=f"q{n:04d}",
        text=f"What does article {n} say?",
        domain=DOMAINS[n % len(DOMAINS)],
        expected=Expected(
            chunks=[Relevance(id=analysis.chunks[0].id)] if not refuse else [],
            analyses=[Relevance(id=analysis.id)] if not refuse else [],
        ),
        reference_answers=[] if refuse else [f"paragraph 0 of article {n}"],
        expected_behavior=ExpectedBehavior(behavior="refuse" if refuse else "answer", must_not=["fabricate_citation"]),
    )


def settings_for(root: Path, **extra: Any) -> Settings:
    return validate_settings({"root": root, **extra})


def build_store(
    root: Path, n: int = 6, analyses: list[Analysis] | None = None, queries: list[Query] | None = None
) -> Path:
    """A valid store under root/golden with n analyses and 2n queries (half expect a refusal)."""
    analyses = analyses if analyses is not None else [make_analysis(i) for i in range(n)]
    if queries is None:
        queries = [make_query(i, a) for i, a in enumerate(analyses)]
        queries += [make_query(100 + i, a, refuse=True) for i, a in enumerate(analyses)]
    target = root / "golden"
    write_store(target, "verify-test", analyses, queries, dict(settings_for(root).store.shards))
    return target


def read_manifest(store: Path) -> dict[str, Any]:
    return orjson.loads((store / "manifest.json").read_bytes())


def write_manifest(store: Path, manifest: dict[str, Any]) -> None:
    (store / "manifest.json").write_bytes(canonical_bytes(manifest))


def locate(store: Path, entity: str, record_id: str) -> str:
    manifest = read_manifest(store)
    return shard_path(entity, record_id, manifest["shard_counts"][entity])


def edit_shard(store: Path, relpath: str, mutate: Callable[[list[Any]], Any], *, reseal: bool = True) -> None:
    """Apply ``mutate`` to a shard's records; with ``reseal``, update its sha256/record count in the manifest."""
    raw = orjson.loads((store / relpath).read_bytes())
    mutate(raw)
    data = canonical_bytes(raw)
    (store / relpath).write_bytes(data)
    if reseal:
        reseal_shard(store, relpath, data, len(raw))


def reseal_shard(store: Path, relpath: str, data: bytes, records: int) -> None:
    manifest = read_manifest(store)
    for entry in manifest["shards"]:
        if entry["path"] == relpath:
            entry["sha256"] = sha256_hex(data)
            entry["records"] = records
    write_manifest(store, manifest)


def find_record(raw: list[dict[str, Any]], record_id: str) -> dict[str, Any]:
    return next(r for r in raw if str(r["id"]) == record_id)
