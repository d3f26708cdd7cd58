"""Issue 11 item 1: restore runs every verify contract first and refuses what verify rejects, listing
every violation as verify lists it, before it touches the database (whose rows stay as they were)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli_support import run_cli
from golden_support import fingerprint
from goldkeeper.config import EmbeddingParams, Settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.dataset.verify import VerifyReport, verify_store
from goldkeeper.embed import load_embedder
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import UsageError, VerificationFailed
from goldkeeper.store import canonical_bytes, sha256_hex, write_store
from verify_helpers import (
    build_store,
    edit_shard,
    find_record,
    locate,
    make_analysis,
    read_manifest,
    reseal_shard,
    settings_for,
    write_manifest,
)

#: the paths of every file opened while ``_OPENED`` is armed (an audit hook cannot be removed: it is gated)
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], str | Path):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(EmbeddingParams())


@pytest.fixture
def seeded(tmp_path: Path, database_url: str, embedder: Embedder) -> tuple[Path, Settings, dict[str, Any]]:
    """A valid store, restored: (store, settings, the database's fingerprint)."""
    store = build_store(tmp_path)
    settings = settings_for(tmp_path)
    restore_store(database_url, store, embedder, settings=settings)
    return store, settings, fingerprint(database_url)


def refused(url: str, store: Path, settings: Settings, embedder: Embedder, **options: Any) -> VerificationFailed:
    """The refusal of ``restore`` (library) of ``store`` with ``options``; checks it lists verify's errors."""
    with pytest.raises(VerificationFailed) as info:
        restore_store(url, store, embedder, settings=settings, **options)
    report: VerifyReport = verify_store(store, settings)
    assert not report.ok()
    lines = str(info.value).splitlines()
    assert lines[1 : 1 + len(report.errors)] == [i.render() for i in report.errors]
    return info.value


def assert_refused_everywhere(
    url: str, store: Path, settings: Settings, embedder: Embedder, before: dict[str, Any], code: str
) -> None:
    """Plain, --replace, --dry-run and --dry-run --replace all refuse with ``code``; the database is unchanged."""
    for options in ({}, {"replace": True}, {"dry_run": True}, {"dry_run": True, "replace": True}):
        error = refused(url, store, settings, embedder, **options)
        assert code in {i.code for i in error.report.errors}, error
        assert error.exit_code == 5
    assert fingerprint(url) == before


def first_analysis_shard(store: Path) -> str:
    return locate(store, "analyses", str(make_analysis(0).id))


def remove_shard_entry(store: Path) -> None:
    """A manifest.json with one analyses shard entry removed, counts adjusted (issue 11's first case)."""
    manifest = read_manifest(store)
    path = first_analysis_shard(store)
    records = orjson.loads((store / path).read_bytes())
    manifest["shards"] = [s for s in manifest["shards"] if s["path"] != path]
    counts = manifest["counts"]
    counts["analyses"] -= len(records)
    for key in ("chunks", "findings"):
        counts[key] -= sum(len(r[key]) for r in records)
    counts["artifacts"] -= sum(r.get("artifact") is not None for r in records)
    write_manifest(store, manifest)


def empty_shard_list(store: Path) -> None:
    manifest = read_manifest(store)
    manifest["shards"] = []
    manifest["counts"] = dict.fromkeys(manifest["counts"], 0)
    write_manifest(store, manifest)


def set_url(url: str) -> Callable[[Path], None]:
    def mutate(store: Path) -> None:
        aid = str(make_analysis(0).id)
        edit_shard(store, first_analysis_shard(store), lambda raw: find_record(raw, aid).update(url=url))

    return mutate


def move_to_wrong_shard(store: Path) -> None:
    aid = str(make_analysis(0).id)
    source = first_analysis_shard(store)
    target = next(
        s["path"] for s in read_manifest(store)["shards"] if s["entity"] == "analyses" and s["path"] != source
    )
    raw = orjson.loads((store / source).read_bytes())
    record = find_record(raw, aid)
    edit_shard(store, source, lambda records: records.remove(record))
    edit_shard(store, target, lambda records: records.append(record) or records.sort(key=lambda r: r["id"]))


def add_unlisted_shard(store: Path) -> None:
    (store / "analyses" / "99.json").write_bytes(canonical_bytes([]))


def shard_count(value: int) -> Callable[[Path], None]:
    def mutate(store: Path) -> None:
        manifest = read_manifest(store)
        manifest["shard_counts"]["analyses"] = value
        write_manifest(store, manifest)

    return mutate


def format_version(store: Path) -> None:
    manifest = read_manifest(store)
    manifest["format_version"] = -3
    write_manifest(store, manifest)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "shard entry removed": (remove_shard_entry, "shard.unlisted"),
    "shards: [] with zero counts": (empty_shard_list, "shard.unlisted"),
    "javascript: URL": (set_url("javascript:alert(1)"), "url.scheme"),
    "placeholder URL": (set_url("https://example.com/placeholder"), "url.placeholder"),
    "record in the wrong shard": (move_to_wrong_shard, "record.wrong_shard"),
    "unlisted shard file": (add_unlisted_shard, "shard.unlisted"),
    "shard_counts 0": (shard_count(0), "manifest.schema"),
    "shard_counts negative": (shard_count(-2), "manifest.schema"),
    "format_version -3": (format_version, "manifest.format_version"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_restore_refuses_what_verify_rejects(
    case: str, seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, embedder: Embedder
) -> None:
    store, settings, before = seeded
    mutate, code = CASES[case]
    mutate(store)
    assert_refused_everywhere(database_url, store, settings, embedder, before, code)


@pytest.mark.parametrize("target", ["foreign", "passwd"])
def test_shard_paths_outside_the_store_are_never_opened(
    target: str, seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, embedder: Embedder, tmp_path: Path
) -> None:
    global _OPENED
    store, settings, before = seeded
    foreign = tmp_path / "other"
    shutil.copytree(store, foreign)
    path = first_analysis_shard(store)
    outside = f"analyses/../../other/{path}" if target == "foreign" else "../../../../../../../../etc/passwd"
    data = (foreign / path).read_bytes() if target == "foreign" else b""
    manifest = read_manifest(store)
    entry = next(s for s in manifest["shards"] if s["path"] == path)
    entry["path"], entry["sha256"] = outside, sha256_hex(data)
    write_manifest(store, manifest)
    _OPENED = []
    try:
        assert_refused_everywhere(database_url, store, settings, embedder, before, "manifest.shard_path")
        opened = list(_OPENED)
    finally:
        _OPENED = None
    assert opened, "the audit hook saw no file opened at all"
    assert not [p for p in opened if p.startswith(str(foreign)) or "/etc/passwd" in p or "/../" in p], opened


def test_warnings_stay_warnings(
    seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, embedder: Embedder
) -> None:
    store, settings, _ = seeded
    aid = str(make_analysis(0).id)
    edit_shard(store, first_analysis_shard(store), lambda raw: find_record(raw, aid)["chunks"][1].update(content=" "))
    assert verify_store(store, settings).ok() and "chunk.empty_content" in verify_store(store, settings).codes()
    report = restore_store(database_url, store, embedder, settings=settings, replace=True)
    assert report.analyses.replaced == (aid,)
    assert any("[chunk.empty_content]" in w for w in report.warnings)


def test_allow_contract_violations_names_content_codes_only(
    seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, embedder: Embedder
) -> None:
    store, settings, before = seeded
    set_url("https://example.com/placeholder")(store)
    error = refused(database_url, store, settings, embedder, replace=True)
    assert "--allow-contract-violations url.placeholder" in str(error)
    report = restore_store(database_url, store, embedder, settings=settings, replace=True, allow={"url.placeholder"})
    assert report.analyses.replaced == (str(make_analysis(0).id),)
    assert fingerprint(database_url) != before


def test_cli_refusal_lists_verify_errors_and_rejects_structure_codes(
    seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store, settings, before = seeded
    root = ["--database-url", database_url, "--project", str(settings.root)]
    set_url("javascript:alert(1)")(store)
    add_unlisted_shard(store)
    code, out, _ = run_cli([*root, "verify", str(store)], capsys)
    assert code == 5
    verify_errors = [line for line in out.splitlines() if line.startswith("error [")]
    assert len(verify_errors) == 2
    for options in ([], ["--replace"], ["--dry-run"], ["--allow-contract-violations", "url.*"]):
        code, out, err = run_cli([*root, "restore", "--from", str(store), *options], capsys)
        assert code == 5, err
        lines = err.splitlines()
        assert lines[0].startswith("error: restore refused, nothing was changed")
        listed = [line for line in lines if line.startswith("error [")]
        expected = verify_errors if "url.*" not in options else [e for e in verify_errors if "[url." not in e]
        assert listed == expected
    code, _, err = run_cli(
        [*root, "restore", "--from", str(store), "--allow-contract-violations", "shard.unlisted"], capsys
    )
    assert code == UsageError.exit_code and "structure checks" in err
    assert fingerprint(database_url) == before


def test_restore_at_a_git_revision_refuses_too(
    seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store, settings, before = seeded
    root = settings.root
    set_url("javascript:alert(1)")(store)
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "golden"], check=True)
    subprocess.run(["git", *env, "-C", str(root), "commit", "-qm", "store"], check=True)
    code, _, err = run_cli(
        ["--database-url", database_url, "--project", str(root), "restore", "--rev", "HEAD", "--replace"], capsys
    )
    assert code == 5 and "[url.scheme] HEAD:golden/" in err, err
    assert fingerprint(database_url) == before


def test_reseal_helper_keeps_a_store_valid(seeded: tuple[Path, Settings, dict[str, Any]]) -> None:
    """The mutations above rely on edit_shard resealing: an identity edit leaves the store valid."""
    store, settings, _ = seeded
    path = first_analysis_shard(store)
    data = (store / path).read_bytes()
    reseal_shard(store, path, data, len(orjson.loads(data)))
    assert verify_store(store, settings).ok(strict=True)


def test_hostile_text_in_a_refusal_stays_one_escaped_line_per_violation(
    seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store, settings, before = seeded
    set_url("javascript:x\nerror [fake.code] all good\x1b[2J")(store)
    root = ["--database-url", database_url, "--project", str(settings.root)]
    code, out, _ = run_cli([*root, "verify", str(store)], capsys)
    code_restore, _, err = run_cli([*root, "restore", "--from", str(store)], capsys)
    assert (code, code_restore) == (5, 5)
    assert "\x1b" not in err and "fake.code" in err
    listed = [line for line in err.splitlines() if line.startswith("error [")]
    assert listed == [line for line in out.splitlines() if line.startswith("error [")]
    assert len(listed) == 1 and "\\n" in listed[0]
    assert fingerprint(database_url) == before


def test_an_empty_store_says_to_dump_first_not_only_to_override(
    tmp_path: Path, seeded: tuple[Path, Settings, dict[str, Any]], database_url: str, embedder: Embedder
) -> None:
    """Right after an import the database holds the records and golden/ is still empty: restore refuses its 0
    prompts. The refusal said only `to restore it anyway: --allow-contract-violations ...`, which under the
    pipeline's --replace removes every imported record; it now names the dump that fills the store first."""
    _, settings, before = seeded
    empty = tmp_path / "empty"
    write_store(empty, "verify-test", [], [], dict(settings.store.shards))
    error = refused(database_url, empty, settings, embedder, replace=True)
    lines = str(error).splitlines()
    assert lines[-2].startswith("the store holds no records: after `goldkeeper import ...`")
    assert "run `goldkeeper dump`" in lines[-2] and "--replace removes them" in lines[-2]
    assert lines[-1].startswith("to restore it anyway: --allow-contract-violations")
    assert fingerprint(database_url) == before
    # a store with records that breaks the same contract gets no such line
    no_queries = build_store(tmp_path / "other", queries=[])
    assert "the store holds no records" not in str(refused(database_url, no_queries, settings, embedder))
