"""Issue 11 item 10: exit codes. A broken store is exit 5 (never 1, "internal error"), ``--debug`` only
adds a traceback and never changes an exit code, ``db url`` with the server stopped is a clear exit 4."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_support import run_cli
from goldkeeper.cli import interrupted
from verify_helpers import build_store, read_manifest, write_manifest

#: restore must refuse before it connects: a URL nothing listens on proves it never tried
NOWHERE = "postgresql://gk@127.0.0.1:1/nowhere"


def manifest_is_a_directory(store: Path) -> None:
    (store / "manifest.json").unlink()
    (store / "manifest.json").mkdir()


def shard_is_a_directory(store: Path) -> None:
    path = store / read_manifest(store)["shards"][0]["path"]
    path.unlink()
    path.mkdir()


def shard_count_zero(store: Path) -> None:
    manifest = read_manifest(store)
    manifest["shard_counts"]["queries"] = 0
    write_manifest(store, manifest)


def store_is_a_file(store: Path) -> None:
    shutil.rmtree(store)
    store.write_text("not a store\n")


BROKEN: dict[str, Callable[[Path], None]] = {
    "manifest is a directory": manifest_is_a_directory,
    "shard is a directory": shard_is_a_directory,
    "shard_counts 0": shard_count_zero,
    "store is a file": store_is_a_file,
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("debug", [False, True])
def test_a_broken_store_is_exit_5_for_verify_and_restore(
    case: str, debug: bool, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build_store(project)
    BROKEN[case](store)
    flags = ["--debug"] if debug else []
    code, _, err = run_cli([*flags, "verify"], capsys)
    assert code == 5, err
    for options in ([], ["--dry-run"], ["--replace"]):
        code, _, err = run_cli([*flags, "--database-url", NOWHERE, "restore", *options], capsys)
        assert code == 5, err
        assert "internal error" not in err and "127.0.0.1" not in err
        assert ("Traceback" in err) == debug


ERRORS: dict[str, tuple[list[str], int]] = {
    "unknown revision": (["restore", "--rev", "no-such-rev"], 2),
    "bad option combination": (["--database-url", NOWHERE, "restore", "--allow-contract-violations", "shard.x"], 2),
    "unknown params key": (["verify"], 3),
    "server stopped": (["db", "url"], 4),
    "broken store": (["verify", "golden"], 5),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_debug_never_changes_an_exit_code(case: str, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, expected = ERRORS[case]
    store = build_store(project)
    if case == "unknown params key":
        (project / "params.yaml").write_text("store:\n  no_such_key: 1\n")
    if case == "broken store":
        manifest_is_a_directory(store)
    if case == "unknown revision":
        (project / ".git").mkdir()  # not a repository either way: a usage error, not a bug
    code, _, plain = run_cli(argv, capsys)
    debug_code, _, debug_err = run_cli(["--debug", *argv], capsys)
    assert (code, debug_code) == (expected, expected), (plain, debug_err)
    assert "Traceback" not in plain and "Traceback" in debug_err
    assert plain.splitlines()[-1] == debug_err.splitlines()[-1]  # the same one-line error, after the traceback


def test_db_url_with_the_server_stopped_says_so_with_exit_4(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["db", "url"], capsys)
    assert (code, out) == (4, "")
    assert err == "error: the embedded server is not running (start it with `goldkeeper db start`)\n"


def test_ctrl_c_during_a_lazy_import_is_exit_130_not_an_internal_error() -> None:
    # a SIGINT while `import jsonl` imports onnxruntime (measured: 6 of 60 Ctrl-Cs at 0.4-0.6 s) surfaced as
    # `internal error: ImportError: initialization failed`, exit 1, "a bug: please report it"
    def import_failed_by_ctrl_c() -> ImportError:
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as ctrl_c:
                raise ImportError("initialization failed") from ctrl_c
        except ImportError as exc:
            return exc

    assert interrupted(import_failed_by_ctrl_c())
    assert interrupted(KeyboardInterrupt())
    assert not interrupted(ImportError("initialization failed"))
    try:
        raise ValueError("x")
    except ValueError as inner:
        try:
            raise RuntimeError("y") from inner
        except RuntimeError as outer:
            assert not interrupted(outer)


@pytest.mark.parametrize("argv", [["db", "start"], ["db", "init"], ["dump", "--out", "out"], ["db", "stop"]])
def test_an_unusable_goldkeeper_home_is_a_file_error_naming_it(
    argv: list[str], project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # $GOLDKEEPER_HOME below a regular file (or not writable): `internal error: NotADirectoryError`, exit 1
    (project / "afile").write_text("not a directory\n")
    monkeypatch.setenv("GOLDKEEPER_HOME", str(project / "afile" / "home"))
    code, out, err = run_cli(argv, capsys)
    if argv == ["db", "stop"]:  # nothing can run there: nothing to stop
        assert (code, out, err) == (0, "embedded PostgreSQL was not running\n", "")
        return
    assert code == 7 and "internal error" not in err, err
    assert err == (
        f"error: {project / 'afile' / 'home'}: cannot write: Not a directory "
        "(the embedded server's home: $GOLDKEEPER_HOME, else .goldkeeper/)\n"
    )


def test_ctrl_c_while_the_command_line_is_imported_is_exit_130_without_a_traceback() -> None:
    """The console script runs goldkeeper.__main__, which catches a Ctrl-C during `import goldkeeper.cli` (the
    first tenth of a second, before cli.main exists to catch it). The interrupt is raised by an import hook at
    that import: a real signal cannot be timed into that window reliably."""
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="goldkeeper")
    assert script.value == "goldkeeper.__main__:main"
    probe = (
        "import builtins\n"
        "real = builtins.__import__\n"
        "def hooked(name, *args, **kwargs):\n"
        "    if name == 'goldkeeper.cli':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = hooked\n"
        "from goldkeeper.__main__ import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, "verify"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "interrupted\n")
    python_m = subprocess.run([sys.executable, "-m", "goldkeeper", "--version"], capture_output=True, text=True)
    assert python_m.returncode == 0 and python_m.stdout.startswith("goldkeeper, version")


def test_a_current_directory_that_was_removed_is_named_not_an_internal_error(tmp_path: Path) -> None:
    """A shell inside golden/queries is left in a removed directory once fmt or dump swaps the store: the next
    command failed with `internal error: FileNotFoundError` (exit 1). -C with an absolute path still works."""
    build_store(tmp_path / "project")
    gone = tmp_path / "gone"
    gone.mkdir()
    probe = (
        "import os, sys; gone = sys.argv.pop(1); os.chdir(gone); os.rmdir(gone)\n"
        "from goldkeeper.__main__ import main; main()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDKEEPER_")} | {"GOLDKEEPER_HOME": str(tmp_path)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        gone.mkdir(exist_ok=True)
        command = [sys.executable, "-c", probe, str(gone), *argv]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    proc = run("verify")
    assert (proc.returncode, proc.stdout) == (2, "") and "internal error" not in proc.stderr
    assert proc.stderr.startswith("error: the current directory no longer exists"), proc.stderr
    proc = run("-C", str(tmp_path / "project"), "verify")
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stderr
