"""Helpers for the diff tests: real git repositories holding generated golden stores."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import write_store

SHARDS = {"analyses": 4, "queries": 4}
WORDS = "the quick brown fox jumps over the lazy dog while a patient reviewer reads every changed word".split()


def git(repo: Path, *args: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "ada@example.net",
        "GIT_COMMITTER_NAME": "Ada Lovelace",
        "GIT_COMMITTER_EMAIL": "ada@example.net",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def init_repo(path: Path) -> Path:
    git(path, "init", "-q", "-b", "main")
    return path


def commit_all(repo: Path, message: str, *paths: str) -> str:
    git(repo, "add", *(paths or ("golden",)))
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def analysis_id(n: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"analysis-{n}")


def chunk_id(n: int, i: int) -> UUID:
    return uuid5(analysis_id(n), f"chunk-{i}")


def text(n: int, words: int = 40) -> str:
    return " ".join(WORDS[(n + k) % len(WORDS)] for k in range(words)) + f" (passage {n})"


def make_analysis(n: int, chunks: int = 3, url: str | None = None) -> Analysis:
    return Analysis(
        id=analysis_id(n),
        url=url or f"https://docs.acme-corp.io/articles/{n}",
        title=f"Article {n}",
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        chunks=[
            Chunk(id=chunk_id(n, i), content=text(n * 10 + i), section_title=f"S{i}", chunk_index=i)
            for i in range(chunks)
        ],
    )


def make_query(n: int, analyses: int) -> Query:
    target = n % analyses
    return Query(
        id=f"q{n:04d}",
        text=f"What does article {target} say about item {n}?",
        domain="docs",
        tags=["gen"],
        expected=Expected(
            chunks=[Relevance(id=chunk_id(target, n % 3), relevance=2)],
            analyses=[Relevance(id=analysis_id(target))],
        ),
        reference_answers=[f"answer {n}"],
        expected_behavior=ExpectedBehavior(behavior="answer"),
    )


def dataset(analyses: int = 6, queries: int = 12) -> tuple[list[Analysis], list[Query]]:
    return [make_analysis(n) for n in range(analyses)], [make_query(n, analyses) for n in range(queries)]


def write(root: Path, analyses: list[Analysis], queries: list[Query], store: str = "golden") -> None:
    write_store(root / store, "test-set", analyses, queries, SHARDS)
