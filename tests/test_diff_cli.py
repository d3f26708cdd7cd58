"""The diff / changelog / log / show commands, run through goldkeeper's real entry point."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diff_support import SHARDS, commit_all, dataset, git, init_repo, make_analysis, write
from goldkeeper.cli import main
from goldkeeper.dataset.diff.render import GITHUB_COMMENT_LIMIT
from goldkeeper.dataset.diff.schema import DIFF_JSON_SCHEMA
from goldkeeper.project import Project
from goldkeeper.store import StoreWriter
from goldkeeper.store.git_command import store_path_in_params
from verify_helpers import build_store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    init_repo(tmp_path)
    analyses, queries = dataset()
    write(tmp_path, analyses, queries)
    commit_all(tmp_path, "golden v1")
    return tmp_path


def test_exit_code_is_10_only_when_stores_differ(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-C", str(repo), "diff", "--exit-code")
    assert code == 0 and "no record changes" in out
    analyses, queries = dataset()
    write(repo, [*analyses, make_analysis(77)], queries)
    code, out, _ = run(capsys, "-C", str(repo), "diff", "--exit-code")
    assert code == 10
    assert "A analysis" in out and "analyses: +1 -0 ~0" in out
    code, _, _ = run(capsys, "-C", str(repo), "diff")
    assert code == 0


def test_json_output_follows_the_documented_schema(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    analyses, queries = dataset()
    analyses[0] = analyses[0].model_copy(update={"status": "archived"})
    write(repo, analyses, queries[1:])
    out_file = repo / "reports" / "d.json"
    code, _, err = run(capsys, "-C", str(repo), "diff", "HEAD", "--format", "json", "--out", str(out_file))
    assert code == 0 and "wrote" in err
    doc = json.loads(out_file.read_text())
    assert doc["schema_version"] == 1
    assert set(doc) == {
        "schema_version",
        "old",
        "new",
        "identical",
        "summary",
        "analyses",
        "chunks",
        "queries",
        "impact",
        "url_violations",
        "store_problems",
        "stats",
    }
    assert doc["store_problems"] == [] and doc["summary"]["store_problems"] == 0
    assert doc["summary"]["analyses"] == {"added": 0, "removed": 0, "modified": 1}
    assert doc["summary"]["queries"] == {"added": 0, "removed": 1, "modified": 0}
    assert doc["analyses"]["modified"][0]["changes"] == [
        {"path": "status", "action": "changed", "old": "completed", "new": "archived", "text_diff": None}
    ]
    assert doc["queries"]["removed"][0]["id"] == queries[0].id
    assert doc["old"]["label"] == "HEAD" and len(doc["old"]["commit"]) == 40
    assert doc["new"]["label"] == "working tree" and doc["new"]["commit"] is None
    assert doc["identical"] is False
    jsonschema.validate(doc, DIFF_JSON_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "schema_version": 2}, DIFF_JSON_SCHEMA)


def test_json_flag_is_format_json_and_conflicts_with_another_format(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # every other command has --json; diff's own spelling is --format json
    analyses, queries = dataset()
    write(repo, analyses[1:], queries)
    _, expected, _ = run(capsys, "-C", str(repo), "diff", "--format", "json")
    code, out, err = run(capsys, "-C", str(repo), "diff", "--json")
    assert (code, out) == (0, expected), err
    assert json.loads(out)["summary"]["analyses"]["removed"] == 1
    code, out, _ = run(capsys, "-C", str(repo), "diff", "--json", "--format", "json")
    assert (code, out) == (0, expected)
    code, out, err = run(capsys, "-C", str(repo), "diff", "--format", "md", "--json")
    assert code == 2 and out == ""
    assert "--json is --format json; it cannot be combined with --format md" in err


def test_markdown_for_a_change_touching_every_record_stays_under_the_comment_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_repo(tmp_path)
    analyses, queries = dataset(analyses=300, queries=1500)
    write(tmp_path, analyses, queries)
    commit_all(tmp_path, "v1")
    changed = [
        a.model_copy(
            update={
                "title": a.title + " (revised)",
                "chunks": [c.model_copy(update={"content": c.content.replace("fox", "wolf")}) for c in a.chunks],
            }
        )
        for a in analyses
    ]
    write(tmp_path, changed, [q.model_copy(update={"difficulty": "hard"}) for q in queries])
    code, out, _ = run(capsys, "-C", str(tmp_path), "diff", "--format", "md", "--exit-code")
    assert code == 10
    assert len(out) <= 60_000 < GITHUB_COMMENT_LIMIT
    assert out.startswith("### Golden dataset diff")
    assert (
        "| analyses | 0 | 0 | 300 |" in out
        and "| chunks | 0 | 0 | 900 |" in out
        and "| queries | 0 | 0 | 1500 |" in out
    )
    assert "more (left out to keep the comment under the size limit)" in out
    # impacted queries + the three "modified" lists, each with some items shown
    assert out.count("<details>") == out.count("</details>") == 4
    assert "[-fox-]" in out and "`status`" not in out
    assert out.count("`difficulty`") > 10 and out.count("`title`") > 10


def test_report_writes_md_and_json_from_params(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "params.yaml").write_text("diff:\n  base: main\n  md: out/diff.md\n  json: out/diff.json\n")
    analyses, queries = dataset()
    write(repo, analyses[1:], queries)
    code, _, err = run(capsys, "-C", str(repo), "diff", "--report")
    assert code == 0, err
    assert "analyses -1" in (repo / "out" / "diff.md").read_text()
    assert json.loads((repo / "out" / "diff.json").read_text())["old"]["label"] == "main"


def test_changelog_appends_once_per_change(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    analyses, queries = dataset()
    write(repo, [*analyses, make_analysis(90, chunks=2)], queries)
    code, out, _ = run(capsys, "-C", str(repo), "changelog")
    assert code == 0 and "appended" in out
    log = json.loads((repo / "golden" / "CHANGELOG.json").read_text())
    (entry,) = log["entries"]
    assert entry["counts"]["analyses"] == {"added": 1, "removed": 0, "modified": 0}
    assert entry["counts"]["chunks"] == {"added": 2, "removed": 0, "modified": 0}
    assert entry["description"] == "analyses +1, chunks +2"
    assert entry["version_before"] != entry["version_after"]
    assert entry["date"].endswith("Z")
    first_bytes = (repo / "golden" / "CHANGELOG.json").read_bytes()
    code, out, _ = run(capsys, "-C", str(repo), "changelog", "--message", "again")
    assert code == 0 and out.startswith("nothing to add")
    assert (repo / "golden" / "CHANGELOG.json").read_bytes() == first_bytes
    # a dump keeps the changelog (not part of the dataset, so the version is unchanged)
    write(repo, [*analyses, make_analysis(90, chunks=2)], queries)
    assert (repo / "golden" / "CHANGELOG.json").read_bytes() == first_bytes
    commit_all(repo, "v2")
    write(repo, analyses, queries)
    code, out, _ = run(capsys, "-C", str(repo), "changelog", "-m", "drop article 90", "--json")
    doc = json.loads(out)
    assert doc["appended"] and doc["entry"]["description"] == "drop article 90"
    assert doc["entry"]["version_before"] == entry["version_after"]
    assert len(json.loads((repo / "golden" / "CHANGELOG.json").read_text())["entries"]) == 2


def test_changelog_never_replaces_a_link_nor_downgrades_a_newer_changelog(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    analyses, queries = dataset()
    write(repo, analyses, queries[:-1])
    changelog = repo / "golden" / "CHANGELOG.json"
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "changes.json"
    elsewhere.write_text('{"format_version": 1, "entries": []}\n')
    changelog.symlink_to(elsewhere)
    code, _, err = run(capsys, "-C", str(repo), "changelog", "-m", "x")
    assert (
        code == 5
        and err
        == f"error: {changelog}: a symbolic link: the changelog is a regular file of the store (replace the link by its file)\n"
    )
    assert changelog.is_symlink() and elsewhere.read_text() == '{"format_version": 1, "entries": []}\n'

    changelog.unlink()
    newer = '{"entries": [{"date": "2030-01-01T00:00:00Z", "what": "a later format"}], "format_version": 2}\n'
    changelog.write_text(newer)
    code, _, err = run(capsys, "-C", str(repo), "changelog", "-m", "x")
    assert code == 5 and "format_version 2 is newer than this goldkeeper understands (1)" in err
    assert changelog.read_text() == newer


def test_changelog_of_a_hand_edit_before_fmt_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before `fmt` the manifest's sha256 is the old version: the entry said version_after == version_before
    for a modification, and the same change was appended again once fmt had run."""
    init_repo(tmp_path)
    store = build_store(tmp_path)  # a store fmt accepts (prompt contract included)
    commit_all(tmp_path, "v1")
    shard = next(p for p in sorted((store / "queries").iterdir()) if b"What does" in p.read_bytes())
    shard.write_bytes(shard.read_bytes().replace(b"What does", b"What did", 1))
    code, out, err = run(capsys, "-C", str(tmp_path), "changelog", "-m", "past tense")
    assert code == 5 and out == "" and not (store / "CHANGELOG.json").exists()
    assert err == (
        f"error: {store}: the manifest does not match the shards ({shard}): run `goldkeeper fmt` first, "
        "the changelog records dataset versions\n"
    )
    assert run(capsys, "-C", str(tmp_path), "fmt")[0] == 0
    code, out, _ = run(capsys, "-C", str(tmp_path), "changelog", "-m", "past tense", "--json")
    entry = json.loads(out)["entry"]
    assert code == 0 and entry["counts"]["queries"]["modified"] == 1
    shown = json.loads(run(capsys, "-C", str(tmp_path), "show", "--rev", "WORKTREE", "--json")[1])
    assert entry["version_after"] == shown["version"] != entry["version_before"]
    assert run(capsys, "-C", str(tmp_path), "changelog")[1].startswith("nothing to add")


def test_log_and_show(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    analyses, queries = dataset()
    write(repo, analyses, queries[:-2])
    second = commit_all(repo, "drop two queries")
    (repo / "other.txt").write_text("x\n")
    commit_all(repo, "unrelated", "other.txt")
    code, out, _ = run(capsys, "-C", str(repo), "log", "--json")
    assert code == 0
    entries = json.loads(out)
    assert [e["summary"] for e in entries] == ["drop two queries", "golden v1"]
    assert entries[0]["commit"] == second and entries[0]["author"] == "Ada Lovelace"
    assert set(entries[0]) == {  # the keys docs/commands.md documents for `log --json`
        *("commit", "parents", "date", "author", "author_email", "summary", "shallow"),
        *("version", "dataset", "counts", "changes", "changes_summary"),
    }
    assert entries[0]["changes"]["queries"] == {"added": 0, "removed": 2, "modified": 0}
    assert entries[0]["counts"]["queries"] == len(queries) - 2
    assert entries[1]["changes"]["analyses"]["added"] == len(analyses)
    code, out, _ = run(capsys, "-C", str(repo), "log")
    assert "drop two queries" in out and "queries -2" in out
    code, out, _ = run(capsys, "-C", str(repo), "show", "--rev", "HEAD~2", "--json")
    info = json.loads(out)
    assert info["counts"]["queries"] == len(queries) and info["version"] == entries[1]["version"]
    assert set(info) == {  # the keys docs/commands.md documents for `show --json`
        *("rev", "commit", "store", "version", "dataset", "format_version", "schema_version"),
        *("counts", "shard_counts", "shards"),
    }
    code, out, _ = run(capsys, "-C", str(repo), "show")
    assert f"version         {entries[0]['version']}" in out
    code, _, err = run(capsys, "-C", str(repo), "show", "--rev", "nope")
    assert code == 2 and err.startswith("error: unknown git revision 'nope'") and "Traceback" not in err
    # show reads the revision with the git command (store/git_command.py): the same errors as git_source
    git(repo, "tag", "-a", "v1", "-m", "v1", second)
    code, out, _ = run(capsys, "-C", str(repo), "show", "--rev", "v1", "--json")  # an annotated tag: its commit
    assert code == 0 and json.loads(out)["commit"] == second
    code, _, err = run(capsys, "-C", str(repo), "show", "--rev", f"{second}^{{tree}}")
    assert code == 2 and err == f"error: git revision '{second}^{{tree}}' is a tree, not a commit\n"
    git(repo, "rm", "-rq", "golden")
    git(repo, "commit", "-qm", "remove the store")
    code, _, err = run(capsys, "-C", str(repo), "show")
    assert code != 0 and "HEAD:golden: no golden store at revision HEAD" in err and "Traceback" not in err
    code, _, err = run(capsys, "-C", str(repo.parent), "show")  # pytest's base temporary directory
    assert code == 2 and "not inside a git repository" in err


def test_log_and_diff_in_a_shallow_clone(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI checks out one commit (`actions/checkout` fetch-depth 1): its parent is named but not there."""
    analyses, queries = dataset()
    write(repo, analyses, queries[:-2])
    commit_all(repo, "drop two queries")
    clone = tmp_path_factory.mktemp("shallow") / "clone"
    git(repo.parent, "clone", "-q", "--depth", "1", repo.as_uri(), str(clone))

    code, out, err = run(capsys, "-C", str(clone), "log", "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["summary"] == "drop two queries" and entry["shallow"] is True and entry["changes"] == {}
    assert "shallow clone" in entry["changes_summary"] and entry["counts"]["queries"] == len(queries) - 2
    code, out, _ = run(capsys, "-C", str(clone), "log")
    assert code == 0 and "changes unknown" in out

    for argv in (("diff", "HEAD~1", "HEAD"), ("diff", "HEAD~1"), ("changelog", "--base", "HEAD~1")):
        code, _, err = run(capsys, "-C", str(clone), *argv)
        assert code == 2, (argv, err)
        assert err.startswith("error: git revision 'HEAD~1' (") and "shallow clone" in err and "Traceback" not in err
        code, _, err = run(capsys, "-C", str(clone), *argv, "--debug")
        assert code == 2 and "Traceback" in err  # --debug adds the traceback, never changes the exit code
    # show reads the revision with the git command alone: it said "unknown git revision" and nothing more
    code, _, err = run(capsys, "-C", str(clone), "show", "--rev", "HEAD~1")
    assert code == 2 and err == (
        f"error: unknown git revision 'HEAD~1' in {clone}: a shallow clone, it may not have been fetched "
        "(`git fetch --unshallow`)\n"
    )


def test_a_store_reached_through_a_committed_link_has_its_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`golden -> data/golden` committed as a link: git holds the store's files at data/golden. Read as the
    link, every revision had "no store": diff showed the whole dataset added, log said "store removed"."""
    init_repo(tmp_path)
    analyses, queries = dataset()
    write(tmp_path, analyses, queries, store="data/golden")
    (tmp_path / "golden").symlink_to(Path("data") / "golden")
    commit_all(tmp_path, "store behind a link", "data", "golden")
    code, out, _ = run(capsys, "-C", str(tmp_path), "diff", "--exit-code")
    assert code == 0 and "no record changes" in out
    write(tmp_path, analyses, queries[:-1], store="data/golden")
    commit_all(tmp_path, "drop a query", "data")

    code, out, _ = run(capsys, "-C", str(tmp_path), "diff", "HEAD~1", "HEAD", "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["queries"] == {"added": 0, "removed": 1, "modified": 0}
    code, out, _ = run(capsys, "-C", str(tmp_path), "log", "--json")
    assert [(e["summary"], e["changes_summary"]) for e in json.loads(out)] == [
        ("drop a query", "queries -1"),
        ("store behind a link", "analyses +6, chunks +18, queries +12"),
    ]
    code, out, _ = run(capsys, "-C", str(tmp_path), "show", "--rev", "HEAD~1", "--json")
    assert code == 0 and json.loads(out)["counts"]["queries"] == len(queries)


def test_a_symlinked_shard_is_refused_not_followed(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify refuses it (shard.symlink) and restore never reads it; diff and export showed the records of
    whatever file the link pointed at (in a PR: any JSON file of the machine that runs the diff)."""
    store = repo / "golden"
    shard = next(p for p in sorted((store / "queries").iterdir()))
    elsewhere = tmp_path_factory.mktemp("outside") / "secret.json"
    elsewhere.write_text(shard.read_text().replace("What does", "SECRET"))
    shard.unlink()
    shard.symlink_to(elsewhere)
    name = f"{store}/queries/{shard.name}"
    for argv in (
        ("diff",),
        ("diff", "--format", "json"),
        ("export", "jsonl", str(repo / "q.jsonl"), "--kind", "queries"),
    ):
        code, out, err = run(capsys, "-C", str(repo), *argv)
        assert code == 5 and "SECRET" not in out + err, argv
        assert err == f"error: {name}: a symbolic link: a store's files live in the store; nothing was read\n"
    assert not (repo / "q.jsonl").exists()


def test_log_lists_a_history_with_a_broken_commit_in_it(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A commit cannot be fixed afterwards: one with a broken shard or manifest made every `log` exit 5."""
    store = repo / "golden"
    shard = sorted((store / "queries").iterdir())[0]
    good_shard, good_manifest = shard.read_bytes(), (store / "manifest.json").read_bytes()
    shard.write_bytes(b"<<<<<<< HEAD\n" + good_shard)  # a merge conflict committed by mistake
    broken_shard = commit_all(repo, "merge with a conflict left in")
    shard.write_bytes(good_shard)
    (store / "manifest.json").write_bytes(b"{")
    broken_manifest = commit_all(repo, "manifest cut short")
    (store / "manifest.json").write_bytes(good_manifest)
    commit_all(repo, "repaired")

    code, out, err = run(capsys, "-C", str(repo), "log", "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert [e["summary"] for e in entries] == [
        "repaired",
        "manifest cut short",
        "merge with a conflict left in",
        "golden v1",
    ]
    name = f"{shard.relative_to(repo).as_posix()}: git merge conflict markers (<<<<<<< at line 1)"
    assert entries[0]["changes_summary"].startswith(
        f"changes unknown: {broken_manifest}:golden/manifest.json: not valid JSON"
    )
    assert entries[1]["changes_summary"].startswith(f"store unreadable: {broken_manifest}:golden/manifest.json")
    assert entries[1]["version"] is None and entries[1]["changes"] == {}
    assert entries[2]["changes_summary"].startswith(f"changes unknown: {broken_shard}:{name}")
    assert entries[3]["changes"]["queries"]["added"] == 12
    code, out, _ = run(capsys, "-C", str(repo), "log", "-n", "1")
    assert code == 0 and "repaired  [changes unknown:" in out


def test_first_changelog_entry_before_the_store_is_committed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_repo(tmp_path)
    (tmp_path / "README").write_text("x\n")
    commit_all(tmp_path, "init", "README")
    analyses, queries = dataset(2, 3)
    write(tmp_path, analyses, queries)
    code, out, _ = run(capsys, "-C", str(tmp_path), "changelog", "--json")
    entry = json.loads(out)["entry"]
    assert code == 0 and entry["version_before"] is None and entry["base_commit"]
    assert entry["counts"]["queries"]["added"] == 3 and entry["description"] == "analyses +2, chunks +6, queries +3"
    code, _, err = run(capsys, "-C", str(tmp_path), "diff", "HEAD", "HEAD")
    assert code == 2 and "neither HEAD nor HEAD has a golden store" in err


def test_show_accepts_the_revisions_diff_and_log_accept(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`show --rev ':/message'` said "unknown git revision" while diff and log took git's ':/text' syntax: show
    peeled the revision as ':/message^{commit}', a search for that text. One check of a revision serves all."""
    first = git(repo, "rev-parse", "HEAD").strip()
    analyses, queries = dataset()
    write(repo, analyses, queries[:-1])
    commit_all(repo, "drop a query")
    for rev in (":/golden v1", "HEAD^{/golden}", "HEAD~1", first[:10]):
        code, out, err = run(capsys, "-C", str(repo), "show", "--rev", rev, "--json")
        assert code == 0 and json.loads(out)["commit"] == first, (rev, err)
        code, out, err = run(capsys, "-C", str(repo), "log", "--rev", rev, "--json")
        assert code == 0 and [e["commit"] for e in json.loads(out)] == [first], (rev, err)
        code, out, err = run(capsys, "-C", str(repo), "diff", rev, "HEAD", "--format", "json")
        assert code == 0 and json.loads(out)["summary"]["queries"]["removed"] == 1, (rev, err)
    for argv in (("show", "--rev", ":/no such message"), ("diff", ":/no such message"), ("log", "--rev", ":/no such")):
        code, _, err = run(capsys, "-C", str(repo), *argv)
        assert code == 2 and err.startswith("error: unknown git revision ':/no such"), (argv, err)


def test_a_repository_without_commits_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`git init`, nothing committed: diff, log, changelog and show said "unknown git revision 'HEAD'". They now
    say there are no commits yet and what to do; exit 2 (log too, as `git log` fails there)."""
    init_repo(tmp_path)
    analyses, queries = dataset(2, 3)
    write(tmp_path, analyses, queries)
    expected = (
        f"error: {tmp_path} has no commits yet, so git revision 'HEAD' names nothing: commit the store first "
        "(git add, git commit); diff, changelog --base and show --rev also take a store directory\n"
    )
    for argv in (("diff",), ("log",), ("changelog",), ("show",), ("diff", "HEAD", "golden")):
        code, out, err = run(capsys, "-C", str(tmp_path), *argv)
        assert (code, out, err) == (2, "", expected), argv
    assert not (tmp_path / "golden" / "CHANGELOG.json").exists()
    code, _, err = run(capsys, "-C", str(tmp_path), "diff", "main~3")
    assert code == 2 and err.startswith("error: ") and "has no commits yet" in err
    shutil.copytree(tmp_path / "golden", tmp_path / "before")
    code, out, _ = run(capsys, "-C", str(tmp_path), "diff", "before", "golden")  # what it says to do works
    assert code == 0 and "no record changes" in out


def test_no_output_is_written_into_the_store(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`diff --out golden/queries/03.json` and `export ... golden/queries/03.json` replaced a shard (the store
    then failed verify). Every output path inside the store, a link to it followed, is refused: exit 2."""
    shard = sorted((repo / "golden" / "queries").iterdir())[0]
    relpath = shard.relative_to(repo).as_posix()
    before = {p: p.read_bytes() for p in (repo / "golden").rglob("*") if p.is_file()}
    (repo / "link").symlink_to("golden")
    offline = ["--database-url", "postgresql://127.0.0.1:1/nothing"]  # refused before any connection
    for argv, shown in (
        (["diff", "--out", relpath], relpath),
        (["diff", "--out", "link/queries/new.md"], "link/queries/new.md"),
        (["export", "jsonl", "--kind", "queries", relpath], relpath),
        (["export", "prompts", str(repo / "golden" / "prompts.json")], str(repo / "golden" / "prompts.json")),
        (["gate", "--output", "golden/gate.json"], "golden/gate.json"),
        (["report", "--dir", "link/evals"], "link/evals"),
        ([*offline, "eval", "retrieval", "--trec-dir", "golden"], "golden"),
        ([*offline, "eval", "grounded", "--per-case", "golden/cases.json"], "golden/cases.json"),
        ([*offline, "restore", "--marker", "golden/restored.json"], "golden/restored.json"),
    ):
        code, out, err = run(capsys, "-C", str(repo), *argv)
        assert (code, out) == (2, ""), (argv, err)
        assert err == (
            f"error: {shown}: inside the golden store {repo / 'golden'}; goldkeeper does not write its outputs "
            "into the store (name a path outside it)\n"
        ), argv
    assert {p: p.read_bytes() for p in (repo / "golden").rglob("*") if p.is_file()} == before
    code, _, err = run(capsys, "-C", str(repo), "diff", "--out", "diff.txt")  # outside the store: written
    assert code == 0 and (repo / "diff.txt").is_file(), err


@pytest.mark.timeout(60)
def test_a_repetitive_chunk_edit_is_diffed_in_bounded_time(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # difflib is cubic on repetitive text: this 4 KB chunk (a valid store) took a minute before the budget
    analyses, queries = dataset()
    old_chunk = analyses[2].chunks[0].model_copy(update={"content": " ".join(["a", "b"] * 1000)})
    analyses[2] = analyses[2].model_copy(update={"chunks": [old_chunk, *analyses[2].chunks[1:]]})
    write(repo, analyses, queries)
    commit_all(repo, "repetitive chunk")
    new_chunk = old_chunk.model_copy(update={"content": " ".join(["a", "a", "b"] * 667) + " tail"})
    analyses[2] = analyses[2].model_copy(update={"chunks": [new_chunk, *analyses[2].chunks[1:]]})
    write(repo, analyses, queries)
    started = time.monotonic()
    code, out, _ = run(capsys, "-C", str(repo), "diff")
    assert code == 0 and time.monotonic() - started < 15
    content = next(line for line in out.splitlines() if line.strip().startswith("content:"))
    assert "[-" in content and "{+" in content and content.endswith("tail+}")


def test_a_changelog_entry_written_while_a_dump_runs_is_kept(repo: Path) -> None:
    # the entry went into the store the dump was replacing (its carry-over was taken at the start): `changelog`
    # said "appended" and the entry was gone. The changelog now waits for the dump, and appends to its store.
    analyses, queries = dataset()
    changed = [*analyses, make_analysis(90, chunks=2)]
    write(repo, changed, queries)
    goldkeeper = str(Path(sys.executable).parent / "goldkeeper")
    with StoreWriter(repo / "golden", "test-set", SHARDS) as dump:  # a dump in progress (the same records)
        changelog = subprocess.Popen(
            [goldkeeper, "-C", str(repo), "changelog", "-m", "during the dump"], stdout=subprocess.PIPE, text=True
        )
        with contextlib.suppress(subprocess.TimeoutExpired):
            changelog.wait(timeout=6)  # unserialised, it is done by then
        for analysis in sorted(changed, key=lambda a: str(a.id)):
            dump.add_analysis(analysis)
        for query in sorted(queries, key=lambda q: q.id):
            dump.add_query(query)
    out, _ = changelog.communicate(timeout=120)
    assert changelog.returncode == 0 and out.startswith("appended"), out
    entries = json.loads((repo / "golden" / "CHANGELOG.json").read_text())["entries"]
    assert [entry["description"] for entry in entries] == ["during the dump"]


def test_a_windows_checkout_with_crlf_line_ends_is_the_committed_store(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Git for Windows checks text files out with CRLF (core.autocrlf=true, its default): verify failed every
    shard (shard.checksum, "run goldkeeper fmt"), so restore refused, and diff and show gave another version."""
    init_repo(tmp_path)
    build_store(tmp_path)  # a store verify and fmt accept (prompt contract included)
    commit_all(tmp_path, "golden v1")
    clone = tmp_path_factory.mktemp("windows") / "clone"
    git(tmp_path, "-c", "core.autocrlf=true", "clone", "-q", tmp_path.as_uri(), str(clone))
    git(clone, "config", "core.autocrlf", "true")
    assert b"\r\n" in (clone / "golden" / "manifest.json").read_bytes()
    committed = json.loads(run(capsys, "-C", str(clone), "show", "--json")[1])["version"]
    code, out, err = run(capsys, "-C", str(clone), "verify")
    assert code == 0 and f"dataset version {committed}" in out, out + err
    code, out, _ = run(capsys, "-C", str(clone), "diff", "--exit-code")
    assert code == 0 and "no record changes" in out and "store problems" not in out
    assert json.loads(run(capsys, "-C", str(clone), "show", "--rev", "WORKTREE", "--json")[1])["version"] == committed
    assert run(capsys, "-C", str(clone), "fmt", "--check")[0] == 0  # nothing to rewrite: git sees no change

    # a shard committed with CRLF (an editor's, autocrlf off) reads as the same store at that revision
    shard = sorted((tmp_path / "golden" / "queries").iterdir())[0]
    shard.write_bytes(shard.read_bytes().replace(b"\n", b"\r\n"))
    commit_all(tmp_path, "CRLF saved by an editor")
    code, out, _ = run(capsys, "-C", str(tmp_path), "log", "-n", "1", "--json")
    assert code == 0 and json.loads(out)[0]["changes_summary"] == "no record changes"
    assert json.loads(out)[0]["version"] == committed


def test_a_store_inside_a_git_submodule_is_named_not_read_as_absent(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """`store.path: data/golden` with data a git submodule: the superproject's tree holds only the submodule's
    commit id there, so every revision had "no store": diff showed the whole dataset added, log listed nothing."""
    top = init_repo(tmp_path_factory.mktemp("superproject"))
    git(top, "-c", "protocol.file.allow=always", "submodule", "add", "-q", repo.as_uri(), "data")
    (top / "params.yaml").write_text("store:\n  path: data/golden\n")
    commit_all(top, "the store in a submodule", ".")
    for argv in (("diff",), ("diff", "HEAD", "data/golden"), ("log",), ("show",), ("export", "prompts", "p.json")):
        code, out, err = run(capsys, "-C", str(top), *argv, *(("--rev", "HEAD") if argv[0] == "export" else ()))
        assert (code, out) == (2, ""), (argv, out)
        assert err.startswith("error: HEAD:data/golden: the store is inside the git submodule data (at "), argv
    code, out, _ = run(capsys, "-C", str(top / "data"), "log", "--json")  # its history, in its repository
    assert code == 0 and [e["summary"] for e in json.loads(out)] == ["golden v1"]


def test_a_git_lfs_pointer_in_place_of_a_shard_is_named(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store under Git LFS checked out without it (actions/checkout without `lfs: true`), or read at a revision,
    is pointer files: verify said "edited or corrupted after the dump (run goldkeeper fmt)" and "not valid JSON
    (unexpected character)", and fmt refused it."""
    shard = sorted((repo / "golden" / "queries").iterdir())[0]
    data = shard.read_bytes()
    shard.write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
    )
    commit_all(repo, "golden/ under Git LFS")
    name = shard.relative_to(repo).as_posix()
    problem = "a Git LFS pointer file, not the store's JSON: goldkeeper does not read files through Git LFS"
    code, out, _ = run(capsys, "-C", str(repo), "verify", "--json")
    issues = [(i["code"], i["file"], i["message"]) for i in json.loads(out)["issues"] if i["severity"] == "error"]
    assert code == 5 and issues[0][:2] == ("shard.invalid_json", str(shard)) and issues[0][2].startswith(problem)
    assert not any(c == "shard.checksum" for c, _, _ in issues)  # not "a hand edit: run fmt"
    for argv in (("diff", "HEAD~1", "HEAD"), ("export", "prompts", "p.json", "--rev", "HEAD")):
        code, _, err = run(capsys, "-C", str(repo), *argv)
        assert code == 5 and err.startswith(f"error: HEAD:{name}: {problem}"), (argv, err)


def test_a_revision_from_before_the_store_moved_holds_it_where_its_params_put_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`store.path` changed (golden -> data/golden) with the store moved: every older revision had "no store" at
    the new path, so diff against it showed the whole dataset added (the PR comment of the move), log stopped
    at the move ("+6 analyses"), and show and restore --rev of an older version said it was never committed."""
    before = json.loads(run(capsys, "-C", str(repo), "show", "--json")[1])
    (repo / "data").mkdir()
    git(repo, "mv", "golden", "data/golden")
    (repo / "params.yaml").write_text("store:\n  path: data/golden\n")
    commit_all(repo, "move the store", ".")
    code, out, _ = run(capsys, "-C", str(repo), "diff", "HEAD~1", "HEAD", "--exit-code")
    assert code == 0 and "no record changes" in out
    code, out, _ = run(capsys, "-C", str(repo), "log", "--json")
    assert [(e["summary"], e["changes_summary"]) for e in json.loads(out)] == [
        ("move the store", "no record changes"),
        ("golden v1", "analyses +6, chunks +18, queries +12"),
    ]
    code, out, _ = run(capsys, "-C", str(repo), "show", "--rev", "HEAD~1", "--json")
    assert code == 0 and json.loads(out) == {**before, "rev": "HEAD~1"}  # store: golden, where it was then


@pytest.mark.parametrize(
    ("path", "project"),
    [("../../etc", ""), ("/etc", ""), ("data/../../x", ""), ("..", ""), ("../../etc", "sub"), ("/etc", "sub")],
)
def test_a_revisions_params_yaml_never_puts_the_store_outside_the_repository(path: str, project: str) -> None:
    """The store path an old revision's params.yaml names is that revision's content (anyone's pull request): one
    leaving the repository (or absolute) is no store path at all; one inside it is read from the project's folder."""
    assert store_path_in_params(f"store: {{path: {path}}}\n".encode(), project) is None
    assert store_path_in_params(b"store: {path: ../data/golden}\n", "sub") == "data/golden"
    assert store_path_in_params(b"dataset: {name: x}\n", project) == f"{project or '.'}/golden".removeprefix("./")


def test_log_reports_progress_over_the_history(repo: Path) -> None:
    """`log` of a long history ran silent (1,000 commits: a minute, now about 15 s): it reports one task, the
    commits read, which the CLI shows as a bar on a terminal and as a line every few seconds in a CI log."""
    analyses, queries = dataset()
    for kept in (11, 10):
        write(repo, analyses, queries[:kept])
        commit_all(repo, f"keep {kept} queries")
    tasks: list[tuple[str, int | None, list[int]]] = []

    class Recording:  # the Progress protocol: what a bar would show
        @contextlib.contextmanager
        def task(self, description: str, total: int | None) -> Iterator[Any]:
            tasks.append((description, total, []))
            yield type("Task", (), {"advance": lambda _self, amount=1: tasks[-1][2].append(amount)})()

    entries = Project.load(repo, progress=Recording()).log()
    assert [e.commit.summary for e in entries] == ["keep 10 queries", "keep 11 queries", "golden v1"]
    assert tasks == [("reading the store's history", 3, [1, 1, 1])]


def test_show_reads_a_bare_repository_as_log_and_diff_do(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bare repository (a server-side hook, a mirror): log and diff read its revisions, show said "not inside a
    git repository" (its git command asked for a working tree's root, which a bare repository has not)."""
    bare = tmp_path_factory.mktemp("server") / "golden.git"
    git(repo, "clone", "-q", "--bare", str(repo), str(bare))
    head = git(repo, "rev-parse", "HEAD").strip()
    code, out, err = run(capsys, "-C", str(bare), "show", "--json")
    assert code == 0 and json.loads(out)["commit"] == head and json.loads(out)["store"] == "golden", err
    code, out, _ = run(capsys, "-C", str(bare), "log", "--json")
    assert (
        code == 0
        and json.loads(out)[0]["version"] == json.loads(run(capsys, "-C", str(bare), "show", "--json")[1])["version"]
    )


def test_a_tag_and_a_branch_of_one_name_are_read_as_git_reads_them_with_its_warning(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A release branch `v1` and a tag `v1` (GitHub Actions' habit): git reads `v1` as the tag and `git diff v1`
    warns that it is ambiguous; goldkeeper asked git with --quiet, so `diff v1` silently compared with the tag."""
    tagged = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "v1")
    analyses, queries = dataset()
    write(repo, analyses, queries[:-1])
    branch = commit_all(repo, "drop a query")
    git(repo, "branch", "v1")
    for argv in (("show", "--rev", "v1", "--json"), ("log", "--rev", "v1", "-n", "1", "--json")):
        code, out, err = run(capsys, "-C", str(repo), *argv)
        shown = json.loads(out) if argv[0] == "show" else json.loads(out)[0]
        assert code == 0 and shown["commit"] == tagged, (argv, err)
        assert err == (
            f"warning: git revision 'v1' is ambiguous (a tag and a branch of that name?): git reads it as {tagged[:12]},"
            " the first of refs/tags/, refs/heads/, refs/remotes/ that has it; name the one you mean (tags/v1, heads/v1)\n"
        )
    code, out, err = run(capsys, "-C", str(repo), "show", "--rev", "heads/v1", "--json")
    assert code == 0 and json.loads(out)["commit"] == branch and err == ""


def test_a_base_branch_missing_locally_is_read_from_origin_with_a_warning(
    repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A custom CI workflow without the template's "make the base branch available locally" step: the checkout is
    a detached commit with origin/main but no main (and no origin/HEAD). `diff main` was an unknown revision and
    the diff stage's base "everything added"; git's checkout would read origin/main, and so does goldkeeper."""
    monkeypatch.delenv("GOLDKEEPER_DIFF_BASE", raising=False)
    base = git(repo, "rev-parse", "HEAD").strip()
    clone = tmp_path_factory.mktemp("ci") / "checkout"
    git(repo, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", "--detach")
    git(clone, "branch", "-q", "-D", "main")
    git(clone, "remote", "set-head", "origin", "-d")  # actions/checkout sets no origin/HEAD
    analyses, queries = dataset()
    write(clone, analyses, queries[:-1])
    warning = (
        f"warning: git revision 'main' is not a local branch; reading origin/main ({base[:12]}) instead, "
        "as `git checkout main` would\n"
    )
    code, out, err = run(capsys, "-C", str(clone), "diff", "main", "--json")
    assert (code, err) == (0, warning)
    doc = json.loads(out)
    assert doc["old"]["commit"] == base and doc["summary"]["queries"]["removed"] == 1
    code, _, err = run(capsys, "-C", str(clone), "diff", "--report")  # diff.base null: the default branch
    assert code == 0 and err.startswith(warning)
    report = json.loads((clone / "reports" / "dataset-diff.json").read_text())
    assert (report["old"]["label"], report["old"]["commit"]) == ("main", base)
    code, _, err = run(capsys, "-C", str(clone), "diff", "main~1")  # only a branch name falls back, as in git
    assert code == 2 and err == f"error: unknown git revision 'main~1' in {clone}\n"
