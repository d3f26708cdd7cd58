"""goldkeeper finds the project's params.yaml from a subdirectory, as git finds .git (real git, real CLI).

The project below keeps its store in ``data/golden`` (params.yaml ``store.path``): a command that did
not read the project's params.yaml would look for ``golden/`` and fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run_cli
from diff_support import commit_all, init_repo
from goldkeeper.config import load_settings
from goldkeeper.evals.answerers import make_answerer
from goldkeeper.evals.evidence import EvidenceIndex
from goldkeeper.project import Project
from goldkeeper.store import write_store
from verify_helpers import make_analysis, make_query, settings_for

STORE = "data/golden"


def write_valid_store(root: Path, analyses: int = 4) -> None:
    records = [make_analysis(i) for i in range(analyses)]
    queries = [make_query(i, a) for i, a in enumerate(records)] + [
        make_query(100 + i, a, refuse=True) for i, a in enumerate(records)
    ]
    write_store(root / STORE, "root-test", records, queries, dict(settings_for(root).store.shards))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose params.yaml puts the store in data/golden, committed, with work/deep beside it."""
    for var in ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL", "GOLDKEEPER_HOME", "GOLDKEEPER_DIFF_BASE"):
        monkeypatch.delenv(var, raising=False)
    (root := tmp_path / "repo").mkdir()
    init_repo(root)
    (root / "params.yaml").write_text(f"store:\n  path: {STORE}\n", encoding="utf-8")
    (root / ".gitignore").write_text(".goldkeeper/\n", encoding="utf-8")
    write_valid_store(root)
    commit_all(root, "golden v1", "params.yaml", ".gitignore", STORE)
    (root / "work" / "deep").mkdir(parents=True)
    return root


def run_in(directory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str):
    monkeypatch.chdir(directory)
    return run_cli(list(argv), capsys)


@pytest.mark.parametrize("subdir", [STORE, f"{STORE}/queries", "work/deep"])
def test_verify_log_show_diff_from_a_subdirectory_use_the_project(
    repo: Path, subdir: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    here = repo / subdir
    code, out, err = run_in(here, monkeypatch, capsys, "verify")
    assert code == 0 and f"{repo / STORE}: valid" in out, out + err
    code, out, err = run_in(here, monkeypatch, capsys, "log")
    assert code == 0 and "golden v1" in out and "no commit changed the store" not in out, out + err
    code, out, err = run_in(here, monkeypatch, capsys, "show")
    assert code == 0 and "HEAD (" in out and f"{STORE}  dataset root-test" in out, out + err
    code, out, err = run_in(here, monkeypatch, capsys, "diff")
    assert code == 0 and "no record changes" in out, out + err
    write_valid_store(repo, analyses=5)  # one analysis (and two queries) more in the working tree
    code, out, err = run_in(here, monkeypatch, capsys, "diff", "--exit-code")
    assert code == 10 and "analyses: +1 -0 ~0" in out, out + err
    # .goldkeeper/ (the diff's hash cache, the embedded server) is the project's, not the subdirectory's
    assert (repo / ".goldkeeper" / "cache").is_dir()
    assert not (here / ".goldkeeper").exists()


def test_paths_typed_on_the_command_line_are_relative_to_the_cwd(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = repo / "work" / "deep"
    code, _, err = run_in(deep, monkeypatch, capsys, "diff", "HEAD", "--format", "json", "--out", "d.json")
    assert code == 0 and "wrote d.json" in err, err
    assert json.loads((deep / "d.json").read_text())["identical"] is True
    assert not (repo / "d.json").exists()
    # a store DIRECTORY argument, a diff side and show --rev DIR: from the cwd
    code, out, err = run_in(deep, monkeypatch, capsys, "verify", "../../data/golden")
    assert code == 0 and "valid" in out, out + err
    code, out, err = run_in(repo / "data", monkeypatch, capsys, "fmt", "--check", "golden")
    assert code == 0 and f"{repo / STORE}: already canonical" in out, out + err
    code, out, err = run_in(deep, monkeypatch, capsys, "diff", "HEAD", "../../data/golden", "--exit-code")
    assert code == 0 and "-> ../../data/golden" in out, out + err
    code, out, err = run_in(deep, monkeypatch, capsys, "show", "--rev", "../../data/golden")
    assert code == 0 and out.startswith("../../data/golden: "), out + err
    # export: the file written and the --from store read, both from the cwd
    code, out, err = run_in(
        deep, monkeypatch, capsys, "export", "jsonl", "q.jsonl", "--kind", "queries", "--from", "../../data/golden"
    )
    assert code == 0, out + err
    assert len((deep / "q.jsonl").read_text().splitlines()) == 8 and not (repo / "q.jsonl").exists()
    # in the store itself, --out d.json is inside the store: refused, nothing written
    code, _, err = run_in(repo / STORE, monkeypatch, capsys, "diff", "--out", "d.json")
    assert code == 2 and "d.json: inside the golden store" in err, err
    assert not (repo / STORE / "d.json").exists()


def test_eval_trec_files_are_relative_to_the_cwd(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = repo / "work" / "deep"
    (deep / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d2 0\n", encoding="utf-8")
    (deep / "run.txt").write_text("q1 Q0 d1 1 2.0 r\nq1 Q0 d2 2 1.0 r\n", encoding="utf-8")
    code, out, err = run_in(deep, monkeypatch, capsys, "eval", "trec", "qrels.txt", "run.txt", "--json")
    assert code == 0, out + err
    assert json.loads(out)["summary"]["map"] == pytest.approx(1.0)


def test_dump_out_and_restore_marker_land_in_the_cwd(
    repo: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    queries_dir = repo / STORE / "queries"
    code, out, err = run_in(
        queries_dir, monkeypatch, capsys, "--database-url", database_url, "restore", "--marker", "../../../work/m.json"
    )
    assert code == 0, out + err
    assert json.loads((repo / "work" / "m.json").read_text())["counts"]["analyses"] == 4
    deep = repo / "work" / "deep"
    code, out, err = run_in(deep, monkeypatch, capsys, "--database-url", database_url, "dump", "--out", "snap")
    assert code == 0 and "to " in out, out + err
    assert (deep / "snap" / "manifest.json").is_file() and not (repo / "snap").exists()
    code, out, err = run_in(deep, monkeypatch, capsys, "verify", "snap")
    assert code == 0, out + err


def test_a_params_yaml_above_the_git_top_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GOLDKEEPER_HOME", raising=False)
    (tmp_path / "params.yaml").write_text("not_a_section: {}\n", encoding="utf-8")  # read, it is an error
    inside = tmp_path / "other" / "sub"
    inside.mkdir(parents=True)
    init_repo(tmp_path / "other")
    plain = tmp_path / "plain" / "sub"  # no git repository: no search, the cwd is the root
    plain.mkdir(parents=True)
    code, out, err = run_in(inside, monkeypatch, capsys, "verify")
    assert code == 5 and f"{inside / 'golden'}" in out + err and "not_a_section" not in err, out + err
    assert load_settings(root=inside, env={}).root == inside
    code, out, err = run_in(plain, monkeypatch, capsys, "verify")
    assert code == 5 and f"{plain / 'golden'}" in out + err and "not_a_section" not in err, out + err
    assert load_settings(root=plain, env={}).root == plain


def test_explicit_root_params_and_home_still_decide(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = repo / "work" / "deep"
    # -C: as if started there, the search starting from there
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "-C", str(deep), "verify")
    assert code == 0 and f"{repo / STORE}: valid" in out, out + err
    code, out, err = run_in(repo, monkeypatch, capsys, "-C", "work/typo", "verify")  # no such directory: no search
    assert (
        code == 5
        and f"{repo / 'work' / 'typo' / 'golden'}: INVALID" in out + err
        and not (repo / "work" / "typo").exists()
    )
    # --params: that file, no search; the cwd is the root (its store.path relative to it)
    (deep / "alt.yaml").write_text("store:\n  path: ../../data/golden\n", encoding="utf-8")
    code, out, err = run_in(deep, monkeypatch, capsys, "--params", "alt.yaml", "verify")
    assert code == 0 and "valid" in out, out + err
    assert load_settings(root=deep, params_file=deep / "alt.yaml", env={}).root == deep
    # $GOLDKEEPER_HOME still wins over the project's .goldkeeper
    monkeypatch.setenv("GOLDKEEPER_HOME", str(tmp_path / "home"))
    code, out, err = run_in(deep, monkeypatch, capsys, "show")
    assert code == 0 and (tmp_path / "home" / "cache" / "known-params.json").is_file(), out + err
    assert not (repo / ".goldkeeper").exists()


def test_library_project_load_from_a_subdirectory(repo: Path) -> None:
    deep = repo / "work" / "deep"
    project = Project.load(deep)
    assert project.settings.root == repo and project.settings.cwd == deep
    assert project.settings.store_path == repo / STORE
    assert project.verify("../../data/golden").ok(strict=False)


def test_init_does_not_search_upwards(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (repo / "params.yaml").read_bytes()
    deep = repo / "work" / "deep"
    code, out, err = run_in(deep, monkeypatch, capsys, "init", "--json")
    assert code == 0, out + err
    assert json.loads(out)["root"] == str(deep) and (deep / "params.yaml").is_file()
    assert (repo / "params.yaml").read_bytes() == before


def test_an_answerer_typed_on_the_command_line_is_relative_to_the_cwd(repo: Path) -> None:
    """--answerer command:PROGRAM runs in, and responses:FILE is read from, the cwd; params.yaml's from the root."""
    deep = repo / "work" / "deep"
    settings = load_settings(root=deep, env={})
    made = {
        given: [
            make_answerer(
                spec, settings=settings, params=settings.grounded, index=EvidenceIndex.from_analyses([]), given=given
            )
            for spec in ("command:./answer", "responses:r.jsonl")
        ]
        for given in (True, False)
    }
    assert [made[True][0].cwd, made[True][1].path] == [deep, deep / "r.jsonl"]
    assert [made[False][0].cwd, made[False][1].path] == [repo, repo / "r.jsonl"]


def _files_read_without_the_project(sub: Path) -> Path:
    """``sub`` holding a qrels and a run (eval trec), two per-query files (eval compare) and a gate.json."""
    sub.mkdir()
    (sub / "q.qrels").write_text("q1 0 d1 1\n")
    (sub / "r.run").write_text("q1 Q0 d1 1 1.0 run\n")
    records = [{"mode": "hybrid", "query": "q1", "ndcg_cut_10": 1.0}]
    (sub / "a.json").write_text(json.dumps(records))
    (sub / "b.json").write_text(json.dumps(records))
    (sub / "gate.json").write_text("{}")
    return sub


def test_files_read_without_the_project_are_relative_to_dash_c_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-C DIR` makes every typed path relative to DIR: also the files of eval trec, eval compare and
    gate --annotations, which click reads before any project exists (they were read from the process's cwd)."""
    sub = _files_read_without_the_project(tmp_path / "sub")
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "-C", "sub", "eval", "trec", "q.qrels", "r.run")
    assert code == 0 and "map" in out and "all\t1.0000" in out, err
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "-C", "sub", "eval", "compare", "a.json", "b.json")
    assert code == 0 and "1 paired queries" in out, err
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "-C", "sub", "gate", "--annotations", "gate.json")
    assert code == 5 and f"{Path('sub') / 'gate.json'}: not a gate result" in err, err
    code, out, err = run_in(sub, monkeypatch, capsys, "eval", "trec", "q.qrels", "r.run")  # no -C: the cwd
    assert code == 0, err


def test_dash_c_after_the_file_arguments_counts_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-C DIR` after the command's files (`gate --annotations gate.json -C sub`) is the same -C: the files are
    resolved once every option is read (gate --annotations read gate.json from the process's cwd)."""
    _files_read_without_the_project(tmp_path / "sub")
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "gate", "--annotations", "gate.json", "-C", "sub")
    assert code == 5 and f"{Path('sub') / 'gate.json'}: not a gate result" in err, err
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "eval", "trec", "q.qrels", "r.run", "-C", "sub")
    assert code == 0 and "all\t1.0000" in out, err
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "eval", "compare", "a.json", "b.json", "--project", "sub")
    assert code == 0 and "1 paired queries" in out, err
    code, out, err = run_in(tmp_path, monkeypatch, capsys, "eval", "trec", "q.qrels", "missing.run", "-C", "sub")
    assert code == 2 and f"File {str(Path('sub') / 'missing.run')!r} does not exist" in err, err


def test_a_key_given_twice_in_params_yaml_is_refused_naming_both_lines(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `store:` pasted below the first (goldkeeper's sections merged into a params.yaml of one's own)
    silently replaced the whole first section, as YAML keeps the last key: store.path fell back to golden/
    (DVC, reading the same file, refuses it). A merge key's values may still be overridden."""
    params = repo / "params.yaml"
    params.write_text(
        f"store:\n  path: {STORE}\nretrieval:\n  boosts:\n    <<: {{section_title: 0.5}}\n    section_title: 0.1\n"
        "store:\n  shards: {analyses: 8, queries: 16}\n",
        encoding="utf-8",
    )
    code, out, err = run_in(repo, monkeypatch, capsys, "verify")
    assert (code, out) == (3, "")
    assert err == f"error: {params}: not valid YAML: line 7: the key 'store' is given twice (first on line 1)\n"
    params.write_text(
        params.read_text().replace("store:\n  shards: {analyses: 8, queries: 16}\n", ""), encoding="utf-8"
    )
    assert load_settings(root=repo, env={}).retrieval.boosts.section_title == 0.1  # merged, then overridden
