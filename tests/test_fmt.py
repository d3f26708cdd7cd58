"""`goldkeeper fmt`: a hand-edited store made canonical again (verify, restore and diff accept it)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from cli_support import run_cli as run
from diff_support import git
from golden_support import store_bytes
from goldkeeper.dataset import fmt as fmt_module
from goldkeeper.dataset.diff import diff_stores
from goldkeeper.dataset.fmt import format_store
from goldkeeper.dataset.verify import verify_store
from goldkeeper.errors import DataIntegrityError, VerificationFailed
from goldkeeper.models import Analysis, StoreScope
from goldkeeper.scaffold.init import render_template
from goldkeeper.store import StoreWriter, open_store, sha256_hex, write_store
from goldkeeper.store.sharding import shard_index
from verify_helpers import (
    build_store,
    edit_shard,
    find_record,
    locate,
    make_analysis,
    make_query,
    read_manifest,
    settings_for,
)


def _hand_edit(store: Path, relpath: str, old: bytes, new: bytes) -> None:
    """What a reviewer does in an editor: replace text in a shard, manifest untouched."""
    path = store / relpath
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))


def test_hand_edited_query_text_fmt_then_verify_restore_diff(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build_store(project)
    (store / "CHANGELOG.json").write_bytes(b"[]\n")  # not managed by fmt: carried over
    original = project / "original"
    shutil.copytree(store, original)
    relpath = locate(store, "queries", "q0001")
    _hand_edit(store, relpath, b"What does article 1 say?", b"What does article one say?")

    code, out, _ = run(["verify"], capsys)
    assert code == 5 and "[shard.checksum]" in out and relpath in out
    code, _, err = run(["--database-url", database_url, "restore"], capsys)
    assert code == 5 and "does not match the manifest" in err

    code, out, err = run(["fmt"], capsys)
    assert code == 0, out + err
    assert f"rewrote {store}/manifest.json" in out and "formatted, 1 file(s) changed" in out
    assert (store / "CHANGELOG.json").read_bytes() == b"[]\n"
    assert read_manifest(store)["shards"] == [
        {**e, "sha256": sha256_hex((store / e["path"]).read_bytes())} for e in read_manifest(original)["shards"]
    ]

    code, out, _ = run(["verify", "--strict"], capsys)
    assert code == 0, out
    code, out, _ = run(["fmt", "--check"], capsys)
    assert code == 0 and "already canonical" in out

    code, out, err = run(["--database-url", database_url, "restore", "--json"], capsys)
    assert code == 0, out + err
    assert "What does article one say?" not in out and len(orjson.loads(out)["queries"]["added"]) == 12

    result = diff_stores(open_store(original), open_store(store))
    assert result.summary_line() == "queries ~1"
    (change,) = result.queries_modified
    assert change.id == "q0001"
    assert [(c.path, c.old, c.new) for c in change.changes] == [
        ("text", "What does article 1 say?", "What does article one say?")
    ]


def test_record_in_a_wrong_shard_is_moved_back(project: Path) -> None:
    store = build_store(project)
    original = store_bytes(store)
    qid = "q0002"
    home = locate(store, "queries", qid)
    other = next(e["path"] for e in read_manifest(store)["shards"] if e["entity"] == "queries" and e["path"] != home)
    record = find_record(orjson.loads((store / home).read_bytes()), qid)
    edit_shard(store, home, lambda raw: raw.remove(find_record(raw, qid)), reseal=False)
    edit_shard(store, other, lambda raw: raw.insert(0, record), reseal=False)  # first: out of order too
    report = verify_store(store, settings_for(project))
    assert {"record.wrong_shard", "shard.checksum", "shard.record_count"} <= report.codes()

    result = format_store(store, settings_for(project))
    assert [(m.id, m.from_path, m.to_path) for m in result.moved] == [(qid, other, home)]
    assert result.written and result.version == sha256_hex((store / "manifest.json").read_bytes())
    assert result.changed == tuple(sorted((home, other)))  # the manifest was right all along
    assert store_bytes(store) == original
    assert qid in {r["id"] for r in orjson.loads((store / home).read_bytes())}
    assert qid not in {r["id"] for r in orjson.loads((store / other).read_bytes())}
    assert verify_store(store, settings_for(project)).ok(strict=True)
    assert format_store(store, settings_for(project), check=True).changed == ()


def test_reordered_chunks_and_reindented_json_are_canonicalised(project: Path) -> None:
    store = build_store(project)
    original = store_bytes(store)
    aid = str(make_analysis(3).id)
    relpath = locate(store, "analyses", aid)
    raw = orjson.loads((store / relpath).read_bytes())
    find_record(raw, aid)["chunks"].reverse()
    (store / relpath).write_bytes(orjson.dumps(raw))  # one line, no indentation, chunks out of order
    assert "chunk.order" in verify_store(store, settings_for(project)).codes()
    before = store_bytes(store)

    check = format_store(store, settings_for(project), check=True)
    assert check.changed == (relpath,) and not check.written  # the manifest is right for the canonical bytes
    assert store_bytes(store) == before  # --check writes nothing

    result = format_store(store, settings_for(project))
    assert result.written and result.version == check.version == result.previous_version
    assert store_bytes(store) == original
    assert verify_store(store, settings_for(project)).ok(strict=True)
    chunks = find_record(orjson.loads((store / relpath).read_bytes()), aid)["chunks"]
    assert [c["chunk_index"] for c in chunks] == [0, 1, 2]


def test_invalid_content_is_refused_and_nothing_written(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(project)
    aid = str(make_analysis(2).id)
    _hand_edit(
        store, locate(store, "analyses", aid), b"https://en.wikipedia.org/wiki/Article_2", b"https://example.com/a"
    )
    edit_shard(
        store,
        locate(store, "queries", "q0003"),
        lambda raw: find_record(raw, "q0003")["expected"]["chunks"].append({"id": str(uuid.uuid4()), "relevance": 1}),
        reseal=False,
    )
    before = store_bytes(store)
    code, out, err = run(["fmt"], capsys)
    assert code == 5
    assert "[url.placeholder]" in out and "[query.dangling_chunk]" in out
    assert "[shard.checksum]" not in out  # what fmt repairs is not a problem
    assert err.strip().splitlines() == [
        f"error: {store}: not formatted: 2 problem(s) fmt cannot repair (nothing written)"
    ]
    assert store_bytes(store) == before

    code, out, _ = run(["fmt", "--check", "--json"], capsys)
    assert code == 5
    assert sorted(i["code"] for i in orjson.loads(out)["issues"]) == ["query.dangling_chunk", "url.placeholder"]
    with pytest.raises(VerificationFailed):
        format_store(store, settings_for(project))
    assert store_bytes(store) == before


def test_check_exit_codes_and_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(project)
    code, out, _ = run(["fmt", "--check", "--json"], capsys)
    assert code == 0
    doc = orjson.loads(out)
    assert doc["changed"] == [] and doc["written"] is False and doc["version"] == doc["previous_version"]

    relpath = locate(store, "queries", "q0000")
    (store / relpath).write_bytes((store / relpath).read_bytes().replace(b"\n  ", b"\n    "))
    before = store_bytes(store)
    code, out, err = run(["fmt", "--check", str(store)], capsys)
    assert code == 10
    assert f"would rewrite {store}/{relpath}" in out and "would change" in err
    assert store_bytes(store) == before
    code, out, _ = run(["fmt", "--json"], capsys)
    assert code == 0 and orjson.loads(out)["written"] is True
    assert run(["fmt", "--check"], capsys)[0] == 0


def test_a_shard_emptied_by_hand_disappears_from_the_manifest(project: Path) -> None:
    store = build_store(project)
    relpath = locate(store, "queries", "q0100")  # queries are referenced by nothing: a shard of them may go
    edit_shard(store, relpath, lambda raw: raw.clear(), reseal=False)
    result = format_store(store, settings_for(project))
    assert relpath in result.changed and not (store / relpath).exists()
    assert relpath not in {e["path"] for e in read_manifest(store)["shards"]}
    assert verify_store(store, settings_for(project)).ok()


def test_writer_per_shard_order_still_refuses_duplicates(tmp_path: Path) -> None:
    shards = {"analyses": 2, "queries": 2}
    analyses = sorted((make_analysis(i) for i in range(8)), key=lambda a: str(a.id))
    # shard 1's records first, then shard 0's: ascending inside each shard, not across the entity
    fed = sorted(analyses, key=lambda a: (-shard_index(str(a.id), 2), str(a.id)))
    assert [str(a.id) for a in fed] != [str(a.id) for a in analyses]
    with pytest.raises(DataIntegrityError, match="out of order"):
        with StoreWriter(tmp_path / "global", "t", shards) as writer:
            for analysis in fed:
                writer.add_analysis(analysis)
    with StoreWriter(tmp_path / "g", "t", shards, per_shard_order=True) as writer:
        for analysis in fed:
            writer.add_analysis(analysis)
    assert open_store(tmp_path / "g").manifest_bytes == open_store(_written(tmp_path / "ref", analyses)).manifest_bytes
    with pytest.raises(DataIntegrityError, match="duplicate id"):
        with StoreWriter(tmp_path / "h", "t", shards, per_shard_order=True) as writer:
            writer.add_analysis(analyses[0])
            writer.add_analysis(analyses[0])


def _written(target: Path, analyses: list[Analysis]) -> Path:
    write_store(target, "t", analyses, [], {"analyses": 2, "queries": 2})
    return target


def test_pr_workflow_checks_fmt_and_verify_before_dvc_repro() -> None:
    workflow = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml"))
    runs = [step.get("run", "").strip() for step in workflow["jobs"]["pipeline"]["steps"]]
    repro = next(i for i, run in enumerate(runs) if "dvc repro" in run)
    assert runs.index("goldkeeper fmt --check") < runs.index("goldkeeper verify") < repro
    pull = next(i for i, run in enumerate(runs) if run.startswith("dvc pull"))
    assert pull < runs.index("goldkeeper fmt --check")  # the store is there (a DVC-tracked one is pulled first)


def test_fmt_on_a_canonical_store_replaces_nothing(project: Path) -> None:
    store = build_store(project)
    inode, before = store.stat().st_ino, store_bytes(store)
    result = format_store(store, settings_for(project))
    assert result.changed == () and not result.written and result.version == result.previous_version
    assert store.stat().st_ino == inode and store_bytes(store) == before  # no swap happened
    assert sorted(p.name for p in project.iterdir()) == ["golden"]  # and no staging directory is left


def test_a_record_fmt_could_not_place_stops_it_before_anything_is_written(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard against losing data: if the misplaced records were not all found, fmt refuses to write."""
    store = build_store(project)
    home = locate(store, "queries", "q0002")
    other = next(e["path"] for e in read_manifest(store)["shards"] if e["entity"] == "queries" and e["path"] != home)
    record = find_record(orjson.loads((store / home).read_bytes()), "q0002")
    edit_shard(store, home, lambda raw: raw.remove(find_record(raw, "q0002")), reseal=False)
    edit_shard(store, other, lambda raw: raw.append(record), reseal=False)
    before = store_bytes(store)
    monkeypatch.setattr(fmt_module, "_misplaced", lambda report, opened: {})  # a fault: the move is not seen
    for check in (True, False):
        with pytest.raises(DataIntegrityError, match="would change the record counts"):
            format_store(store, settings_for(project), check=check)
    assert store_bytes(store) == before
    assert sorted(p.name for p in project.iterdir()) == ["golden"]


def test_a_store_with_a_scope_keeps_it_and_is_canonical(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store dumped with other `dump.statuses` has a `scope` in its manifest: fmt must not drop it from
    the manifest it compares with, or `fmt --check` fails forever and fmt reports a version it did not write."""
    store = project / "golden"
    analyses = [make_analysis(i) for i in range(3)]
    queries = [make_query(i, a) for i, a in enumerate(analyses)]
    shards = dict(settings_for(project).store.shards)
    write_store(store, "t", analyses, queries, shards, StoreScope(statuses=["completed", "draft"]))
    code, out, err = run(["fmt", "--check"], capsys)
    assert code == 0 and "already canonical" in out, out + err

    relpath = locate(store, "analyses", str(analyses[0].id))
    _hand_edit(store, relpath, b"summary 0", b"summary zero")
    code, out, err = run(["fmt", "--json"], capsys)
    assert code == 0, out + err
    result = orjson.loads(out)
    assert result["changed"] == ["manifest.json"]  # the edit left the shard canonical: only its sha256 changes
    assert read_manifest(store)["scope"] == {"statuses": ["completed", "draft"]}
    assert result["version"] == sha256_hex((store / "manifest.json").read_bytes())
    assert run(["fmt", "--check"], capsys)[0] == 0


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_metadata_nested_deeper_than_the_writer_can_write_is_one_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shard is the array (1), the record (2), its artifact (3), then the metadata: at most 254 levels in all,
    orjson's limit. Deeper was an internal error in verify, fmt and diff."""
    store = build_store(project)
    aid = str(make_analysis(0).id)
    relpath = locate(store, "analyses", aid)

    edit_shard(store, relpath, lambda raw: find_record(raw, aid)["artifact"].update(metadata=_nested(254 - 3)))
    code, out, err = run(["verify"], capsys)  # at the limit: an ordinary store
    assert code == 0, out + err

    _hand_edit(store, relpath, b'"leaf": 1', b'"a": {"leaf": 1}')  # one level more (canonical bytes cannot hold it)
    before = store_bytes(store)
    for argv in (["verify"], ["fmt"], ["fmt", "--check"]):
        code, out, err = run(argv, capsys)
        assert code == 5, (argv, out + err)
        assert f"error [record.too_deep] {store}/{relpath}: record {aid}: field artifact.metadata.a.a.a.a..." in out
        assert "nested more than 254 arrays/objects deep" in out and "Traceback" not in out + err
    assert store_bytes(store) == before
    shutil.copytree(store, project / "deep")
    code, out, err = run(["diff", str(store), str(project / "deep")], capsys)
    assert code == 0 and "no record changes" in out  # identical bytes: nothing is parsed
    _hand_edit(project / "deep", relpath, b'"title": "Article 0"', b'"title": "Article zero"')
    code, out, err = run(["diff", str(store), str(project / "deep")], capsys)
    assert code == 5 and out == "" and "Traceback" not in err
    assert err.startswith(f"error: {store}/{relpath}: record {aid}: field artifact.metadata.a.a.a.a...: nested")


def test_an_integer_wider_than_64_bits_is_refused_not_rounded(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """orjson reads 2**64 as the float 1.8446744073709552e+19: fmt rewrote a hand-typed id number rounded."""
    store = build_store(project)
    aid = str(make_analysis(0).id)
    relpath = locate(store, "analyses", aid)
    edit_shard(store, relpath, lambda raw: find_record(raw, aid)["artifact"].update(metadata={"hi": 1, "lo": 2}))
    _hand_edit(store, relpath, b'"hi": 1', b'"hi":18446744073709551615')
    _hand_edit(store, relpath, b'"lo": 2', b'"lo":-9223372036854775808')
    code, out, err = run(["fmt"], capsys)  # the widest integers that stay exact are an ordinary edit
    assert code == 0, out + err
    assert b'"hi": 18446744073709551615,' in (store / relpath).read_bytes()
    assert b'"lo": -9223372036854775808' in (store / relpath).read_bytes()

    _hand_edit(store, relpath, b'"hi": 18446744073709551615', b'"hi": ' + str(2**64).encode())
    before = store_bytes(store)
    for argv in (["verify"], ["fmt"], ["fmt", "--check"]):
        code, out, err = run(argv, capsys)
        assert code == 5, (argv, out + err)
        assert (
            f"error [record.int_range] {store}/{relpath}: record {aid}: field artifact.metadata.hi: "
            f"the number {2**64} is neither a 64-bit integer nor a double"
        ) in out
    assert store_bytes(store) == before


@pytest.mark.parametrize("number", ["1e400", "-1e-400", "0.1000000000000000000001", "1180591620717411303424"])
def test_a_number_no_double_holds_is_refused_by_verify_and_fmt_with_the_integers_code(
    project: Path, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    """orjson read 0.1000000000000000000001 as 0.1 (fmt rewrote it so, verify said nothing) and called 1e400
    invalid JSON (shard.invalid_json): every number the store's JSON cannot hold is record.int_range."""
    store = build_store(project)
    aid = str(make_analysis(0).id)
    relpath = locate(store, "analyses", aid)
    edit_shard(store, relpath, lambda raw: find_record(raw, aid)["artifact"].update(metadata={"x": [1.5, 2]}))
    _hand_edit(store, relpath, b"1.5,", b"0.30000000000000004, 1e-05, 1.50,")
    code, out, err = run(["fmt"], capsys)  # shortest texts of doubles (or equal decimals) are ordinary edits
    assert code == 0, out + err
    assert b"0.30000000000000004,\n" in (store / relpath).read_bytes()
    _hand_edit(store, relpath, b"0.00001", number.encode())  # fmt writes 1e-05 as orjson does
    before = store_bytes(store)
    for argv in (["verify"], ["fmt"], ["fmt", "--check"]):
        code, out, err = run(argv, capsys)
        assert code == 5, (argv, out + err)
        assert (
            f"error [record.int_range] {store}/{relpath}: record {aid}: field artifact.metadata.x.1: "
            f"the number {number} is neither a 64-bit integer nor a double"
        ) in out, out
        assert "shard.invalid_json" not in out
    assert store_bytes(store) == before


def test_a_shard_saved_in_latin_1_names_the_line_of_the_bad_byte(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """orjson said "str is not valid UTF-8: surrogates not allowed: line 1 column 1" wherever the byte was."""
    store = build_store(project)
    relpath = locate(store, "queries", "q0001")
    shutil.copytree(store, project / "before")
    _hand_edit(store, relpath, b"What does article 1 say?", "What does article 1 say? Café".encode("latin-1"))
    data = (store / relpath).read_bytes()
    offset = data.index(b"\xe9")
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    where = f"not valid UTF-8: byte 0xe9 at line {line} column {column} (byte {offset})"
    for argv in (["verify"], ["fmt"]):
        code, out, _ = run(argv, capsys)
        assert code == 5 and f"error [shard.invalid_json] {store}/{relpath}: {where}\n" in out, out
    code, _, err = run(["diff", str(project / "before"), str(store)], capsys)
    assert code == 5 and err == f"error: {store}/{relpath}: {where}\n"


def test_git_conflict_markers_in_a_shard_or_the_manifest_say_how_to_resolve_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two pull requests editing one shard conflict in it and in manifest.json: verify and fmt said "not valid
    JSON (unexpected character, expected a string key: line 29 column 1)", nothing about the merge."""
    store = build_store(project)
    relpath = locate(store, "queries", "q0001")
    lines = (store / relpath).read_bytes().splitlines(keepends=True)
    at = next(i for i, text in enumerate(lines) if b'"What does article 1 say?"' in text)
    theirs = lines[at].replace(b"1", b"one")
    lines[at : at + 1] = [b"<<<<<<< HEAD\n", lines[at], b"=======\n", theirs, b">>>>>>> f3b043f (B)\n"]
    (store / relpath).write_bytes(b"".join(lines))
    line = at + 1
    for argv in (["verify"], ["fmt"], ["fmt", "--check"]):
        code, out, _ = run(argv, capsys)
        assert (
            code == 5
            and (
                f"error [shard.invalid_json] {store}/{relpath}: git merge conflict markers (<<<<<<< at line {line}): "
                "keep the records you want from both sides (one version of each id), delete the markers, then run `goldkeeper fmt`"
            )
            in out
        ), out
    manifest = store / "manifest.json"
    manifest.write_bytes(b"<<<<<<< HEAD\n" + manifest.read_bytes() + b"=======\n>>>>>>> f3b043f (B)\n")
    code, out, _ = run(["fmt"], capsys)
    assert (
        code == 5
        and (
            f"error [manifest.invalid_json] {manifest}: git merge conflict markers (<<<<<<< at line 1): "
            "keep either side's manifest.json (`goldkeeper fmt` recomputes it once the shards are resolved)"
        )
        in out
    ), out


def dataset_repository(root: Path) -> None:
    """A git repository at ``root`` whose root is the store (``store.path: .``), committed on main."""
    build_store(root)
    for entry in (root / "golden").iterdir():
        entry.rename(root / entry.name)
    (root / "golden").rmdir()
    (root / "params.yaml").write_text('store:\n  path: "."\n')
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "dataset repository")


def test_a_store_at_the_root_of_a_git_repository_is_not_replaced(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`store.path: .` in a dataset repository: fmt copied .git and swapped the repository's directory, so the
    shell that ran it was left in a deleted directory (the next goldkeeper command: an internal error)."""
    dataset_repository(project)
    relpath = locate(project, "queries", "q0001")
    _hand_edit(project, relpath, b"What does article 1 say?", b"What does article one say?")
    inode, before = project.stat().st_ino, (project / relpath).read_bytes()

    code, out, err = run(["fmt"], capsys)
    assert code == 5 and out == "" and "Traceback" not in err
    assert err == (
        f"error: {project} holds a git repository (.git): a store directory is replaced as a whole, so goldkeeper "
        "will not write there (keep the store in a directory of its own, e.g. store.path: golden)\n"
    )
    assert project.stat().st_ino == inode and (project / relpath).read_bytes() == before
    assert not [p for p in project.parent.iterdir() if p.name.startswith(f".{project.name}.")]  # no staging left
    code, out, _ = run(["diff", "--exit-code"], capsys)  # reading it is fine
    assert code == 10 and "queries: +0 -0 ~1" in out


def test_a_timestamp_written_with_an_offset_is_the_same_data_in_utc(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Canonical datetimes are UTC with Z: `+02:00` for the same instant passed `verify --strict` as canonical,
    changed the dataset version and showed in diff as a modification (and the next dump wrote Z again)."""
    store = build_store(project)
    original = project / "original"
    shutil.copytree(store, original)
    aid = str(make_analysis(0).id)
    relpath = locate(store, "analyses", aid)
    data = (store / relpath).read_bytes()  # the shard's analyses share the timestamp: edit the first one
    (store / relpath).write_bytes(data.replace(b'T07:08:09Z"', b'T09:08:09+02:00"', 1))

    code, out, _ = run(["verify"], capsys)
    assert code == 5 and f"warning [shard.not_canonical] {store}/{relpath}" in out
    code, out, _ = run(["diff", str(original), str(store), "--exit-code"], capsys)
    assert code == 0 and "no record changes" in out
    code, out, err = run(["fmt"], capsys)
    assert code == 0, out + err
    assert store_bytes(store) == store_bytes(original)  # the same data: the same bytes and dataset version


def test_a_store_at_the_root_of_a_git_worktree_is_not_replaced(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a git worktree (or a submodule) `.git` is a file: the guard checked for a directory only, so fmt
    copied the worktree's root and swapped it (its inode changed under the shell that ran it)."""
    main = project / "main"
    main.mkdir()
    dataset_repository(main)
    worktree = project / "review"
    git(main, "worktree", "add", "-q", str(worktree), "-b", "review")
    assert (worktree / ".git").is_file()
    relpath = locate(worktree, "queries", "q0001")
    _hand_edit(worktree, relpath, b"What does article 1 say?", b"What does article one say?")
    inode, before = worktree.stat().st_ino, (worktree / relpath).read_bytes()

    code, out, err = run(["-C", str(worktree), "fmt"], capsys)
    assert code == 5 and out == "" and "Traceback" not in err
    assert err.startswith(f"error: {worktree} holds a git repository (.git): "), err
    assert worktree.stat().st_ino == inode and (worktree / relpath).read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == ["main", "review"]  # no staging left


def test_an_editors_file_in_the_store_stops_fmt_with_a_message_about_fmt(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .DS_Store / .gitkeep under queries/ or analyses/: fmt refused with "dump would delete it" (the user ran
    fmt). It is still refused and kept (fmt deletes nothing it did not write), with a message naming no other
    command and saying what to do."""
    store = build_store(project)
    relpath = locate(store, "queries", "q0001")
    _hand_edit(store, relpath, b"What does article 1 say?", b"What does article one say?")
    (store / "queries" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (store / "analyses" / ".gitkeep").write_bytes(b"")
    before = store_bytes(store)

    code, out, err = run(["fmt"], capsys)
    assert code == 5 and out == "" and "Traceback" not in err
    assert err == (
        f"error: {store}: analyses/.gitkeep, queries/.DS_Store not listed in manifest.json; writing the store "
        "replaces analyses/ and queries/ as a whole and would delete them, so nothing was written (move them out "
        "of the store, or delete them, and run again)\n"
    )
    assert store_bytes(store) == before


def test_a_byte_order_mark_is_dropped_by_fmt_and_refused_by_verify(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Windows editor saves a UTF-8 BOM in front of a shard and the manifest: verify refuses it (not JSON),
    and fmt refused it too although rewriting hand edits canonically is its job. fmt now drops the mark."""
    store = build_store(project)
    original = store_bytes(store)
    relpath = locate(store, "queries", "q0001")
    for name in (relpath, "manifest.json"):
        (store / name).write_bytes(b"\xef\xbb\xbf" + (store / name).read_bytes())

    code, out, _ = run(["verify"], capsys)
    assert code == 5 and f"error [manifest.invalid_json] {store}/manifest.json: " in out and "(BOM)" in out, out
    code, out, _ = run(["fmt", "--check"], capsys)
    assert code == 10 and f"would rewrite {store}/manifest.json\nwould rewrite {store}/{relpath}\n" in out, out
    code, out, err = run(["fmt"], capsys)
    assert code == 0, out + err
    assert f"rewrote {store}/manifest.json\nrewrote {store}/{relpath}\n" in out and "2 file(s) changed" in out
    assert store_bytes(store) == original
    code, out, _ = run(["verify", "--strict"], capsys)
    assert code == 0, out


def test_fmt_drops_a_byte_order_mark_in_front_of_a_hand_edited_shard(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build_store(project)
    relpath = locate(store, "queries", "q0001")
    _hand_edit(store, relpath, b"What does article 1 say?", b"What does article one say?")
    (store / relpath).write_bytes(b"\xef\xbb\xbf" + (store / relpath).read_bytes())

    code, out, err = run(["fmt"], capsys)
    assert code == 0 and f"rewrote {store}/{relpath}\n" in out, out + err
    assert not (store / relpath).read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"What does article one say?" in (store / relpath).read_bytes()
    code, out, _ = run(["verify", "--strict"], capsys)
    assert code == 0, out


@pytest.mark.parametrize("stray", ["queries/.DS_Store", "analyses/notes/todo.txt"])
def test_check_refuses_an_unlisted_file_as_fmt_does(
    project: Path, capsys: pytest.CaptureFixture[str], stray: str
) -> None:
    """`fmt --check` said "already canonical" (exit 0) on a store holding an editor's `.DS_Store` under queries/,
    while `fmt` refused it (exit 5): a CI check passed what the real run would not write."""
    store = build_store(project)
    (store / stray).parent.mkdir(parents=True, exist_ok=True)
    (store / stray).write_bytes(b"\x00\x00\x00\x01Bud1")
    before = store_bytes(store)
    code, out, err = run(["fmt"], capsys)
    assert code == 5 and out == "" and f"{stray} not listed in manifest.json" in err
    assert run(["fmt", "--check"], capsys) == (5, "", err)
    assert store_bytes(store) == before and (store / stray).exists()
    (store / stray).unlink()
    assert run(["fmt", "--check"], capsys)[0] == 0


def _to_crlf(store: Path) -> list[str]:
    """What a copy from Windows (or an unzipped archive) gives: every store file with CRLF line ends."""
    names = []
    for path in sorted(store.rglob("*.json")):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        names.append(path.relative_to(store).as_posix())
    return names


def test_a_plain_folder_with_crlf_line_ends_is_named_by_verify_and_rewritten_by_fmt(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store copied from Windows: verify said valid, fmt "already canonical", yet every file's bytes (what DVC
    stores, what sha256sum checks against the manifest) were not the dumped ones."""
    store = build_store(project)
    original = store_bytes(store)
    names = _to_crlf(store)
    report = verify_store(store, settings_for(project))
    assert report.ok() and not report.ok(strict=True)
    assert sorted((i.code, i.file) for i in report.warnings) == sorted(
        ("manifest.line_endings" if n == "manifest.json" else "shard.line_endings", str(store / n)) for n in names
    )
    code, out, _ = run(["verify"], capsys)
    assert code == 0 and f"[shard.line_endings] {store}/{names[0]}: CRLF line ends" in out
    assert "run `goldkeeper fmt`" in out

    code, out, _ = run(["fmt", "--check"], capsys)
    assert code == 10 and f"would rewrite {store}/manifest.json" in out
    result = format_store(store, settings_for(project))
    assert result.changed == tuple(sorted(names)) and result.version == result.previous_version
    assert store_bytes(store) == original
    assert verify_store(store, settings_for(project)).ok(strict=True)


def test_crlf_in_a_store_git_ignores_is_named_as_in_a_plain_folder(project: Path) -> None:
    """A store under DVC (golden/ in .gitignore) in a checkout with core.autocrlf=true: git never adds the files,
    so their CRLF are what DVC stores; a store git tracks there is git's CRLF (test_diff_cli) and is left alone."""
    git(project, "init", "-q")
    git(project, "config", "core.autocrlf", "true")
    (project / ".gitignore").write_text("/golden\n")
    store = build_store(project)
    names = _to_crlf(store)
    report = verify_store(store, settings_for(project))
    assert sorted(i.file for i in report.warnings if i.code.endswith(".line_endings")) == [
        str(store / n) for n in names
    ]
    (project / ".gitignore").write_text("")
    assert not [i for i in verify_store(store, settings_for(project)).warnings if i.code.endswith(".line_endings")]


def test_dump_refuses_to_write_the_restored_version_back_over_a_store_edited_since(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand edit + fmt (or a `git pull` of a teammate's merged change) after `dvc repro` restored the store, then
    `goldkeeper dump`: the database still held the restored version and the dump wrote it over golden/, edit lost,
    exit 0, nothing said. A database changed since the restore (an import, SQL) still dumps."""
    store = build_store(project)
    for argv in (["restore", "--replace"], ["dump"], ["restore", "--replace"], ["dump"]):  # the last: not refused
        code, out, err = run(["--database-url", database_url, *argv], capsys)
        assert code == 0, out + err
    restored = open_store(store).version
    relpath = locate(store, "queries", "q0001")
    _hand_edit(store, relpath, b"What does article 1 say?", b"What does article one say?")
    assert run(["fmt"], capsys)[0] == 0
    edited = store_bytes(store)
    code, out, err = run(["--database-url", database_url, "dump"], capsys)
    assert code == 5 and err == (
        f"error: {store}: the database holds version {restored[:12]}, unchanged since it was restored, and the "
        f"store is version {open_store(store).version[:12]}: the dump would only write {restored[:12]} back over "
        "it (undoing a hand edit or a `git pull` made since); run `goldkeeper restore --replace` first to load the "
        "store, or `git checkout` the store of that version to go back to it\n"
    ), out + err
    assert store_bytes(store) == edited
    # a copy elsewhere is the user's to refresh: `dump --out` over it writes the database's version
    shutil.copytree(store, project / "copy")
    code, out, err = run(["--database-url", database_url, "dump", "--out", "copy"], capsys)
    assert code == 0 and open_store(project / "copy").version == restored, out + err
    assert run(["--database-url", database_url, "restore", "--replace"], capsys)[0] == 0
    code, out, err = run(["--database-url", database_url, "dump"], capsys)
    assert code == 0 and store_bytes(store) == edited, out + err


def test_dump_refuses_to_write_the_restored_version_over_a_hand_edit_not_yet_formatted(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand edit without `fmt` leaves the manifest as restored: the guard compared manifests only, so the dump
    wrote the restored shard back over the edit, exit 0, "(unchanged)"."""
    store = build_store(project)
    for argv in (["restore", "--replace"], ["dump"], ["restore", "--replace"]):  # the store as a dump writes it
        assert run(["--database-url", database_url, *argv], capsys)[0] == 0
    relpath = locate(store, "queries", "q0001")
    _hand_edit(store, relpath, b"What does article 1 say?", b"What does article one say?")
    edited = store_bytes(store)
    code, out, err = run(["--database-url", database_url, "dump"], capsys)
    assert code == 5 and f"{relpath} was edited since" in err and "goldkeeper fmt" in err, out + err
    assert store_bytes(store) == edited
