"""The root ``goldkeeper`` group and the shared per-invocation state.

The root group is lazy: :data:`COMMANDS` names every top-level command, the ``cli/`` modules that
register it and its short help, so ``goldkeeper --help`` lists the commands without importing any
of their modules, and ``goldkeeper show`` imports only ``cli/history.py`` (and what ``show`` needs).
Settings and the Project are imported when a command first asks for them (start-up, see
docs/architecture.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from gettext import gettext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from goldkeeper import __version__

if TYPE_CHECKING:
    from goldkeeper.config import Settings
    from goldkeeper.dataset.known import KnownSettings
    from goldkeeper.project import Project

F = TypeVar("F", bound=Callable[..., Any])

#: every top-level command: name -> (the ``cli/`` modules whose ``register(group)`` adds it, its short
#: help as ``--help`` lists it). tests/test_cli_startup.py keeps the short help equal to the command's own.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "baseline": (("quality",), "Versioned metric baselines, keyed by dataset id + version, model version and prompt version."),
    "changelog": (("history",), "Append a dated entry to the store's CHANGELOG.json: what changed against --base."),
    "db": (
        ("db",),
        "Manage the embedded PostgreSQL 16 + pgvector server and its reference schema, and check params.yaml "
        "`database:` (your own tables) against a database.",
    ),
    "demo": (("demo",), "Try goldkeeper end to end on the project's golden/ (or the bundled SQuAD sample)."),
    "diff": (("history",), "Show what changed in the golden dataset between OLD and NEW."),
    "dump": (("dataset",), "Write the golden rows of the database into the canonical sharded store."),
    "eval": (("evals", "grounded"), "Evaluate retrieval (vector, full text, hybrid RRF) and answers against the golden dataset."),
    "export": (("importers",), "Write the golden store (golden/, or --from / --rev) as a file in another format."),
    "fmt": (("fmt",), "Make a hand-edited golden store DIRECTORY (default: params store.path) canonical again."),
    "gate": (("quality",), "Gate CI on the eval metrics: exit 0 when they pass, 10 when they regress."),
    "import": (("importers",), "Import records from other formats into the database (then `goldkeeper dump` them to golden/)."),
    "init": (("init",), "Set up goldkeeper in the current git repository."),
    "log": (("history",), "The golden dataset's history: every commit that changed the store, newest first."),
    "report": (("quality",), "Write summary.json (+ summary.schema.json), summary.md and the index.html dashboard from the trend."),
    "restore": (("dataset",), "Load the golden store into the database, all or nothing, and embed its chunks."),
    "schema": (("verify",), "Print the JSON Schema of a goldkeeper format (default: golden)."),
    "serve": (("quality",), "Serve the dashboard read-only on 127.0.0.1, with /api/ai-evals/summary and /api/openapi."),
    "show": (("history",), "The manifest summary of the golden store at a git revision: version, counts, shards."),
    "verify": (("verify",), "Check the integrity contracts of a golden store DIRECTORY (default: params store.path)."),
}  # fmt: skip


class LazyGroup(click.Group):
    """A group whose commands are imported when first resolved; ``--help`` lists them from a table."""

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[tuple[str, ...], str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.load(self.lazy[cmd_name][0])
        return self.commands.get(cmd_name)

    def load(self, modules: tuple[str, ...]) -> None:
        """Import ``modules`` (names under ``goldkeeper.cli``), register their commands, add the global options."""
        for module in modules:
            importlib.import_module(f"goldkeeper.cli.{module}").register(self)
        accept_global_options(self)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``--help``: a loaded command's own short help, else the table's."""
        commands = [
            self.commands.get(name) or click.Command(name, help=self.lazy[name][1]) for name in self.list_commands(ctx)
        ]
        shown = [command for command in commands if not command.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(command.name or "") for command in shown)
        with formatter.section(gettext("Commands")):
            formatter.write_dl([(command.name or "", command.get_short_help_str(limit)) for command in shown])


@dataclass
class AppState:
    """What every command can reach through ``click.pass_obj``."""

    database_url: str | None = None
    params_file: Path | None = None
    root: Path | None = None
    debug: bool = False
    _settings: dict[str, Settings] = field(default_factory=dict)

    def settings(self, *, option_names: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from params.yaml + env + the global options (+ per-command overrides; ``option_names``:
        the option behind each overridden key, ``{"grounded.as_of": "--as-of"}``, named in its error)."""
        clean = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in overrides.items()}
        key = repr(sorted(clean.items()))
        if key not in self._settings:
            from goldkeeper.config import load_settings  # noqa: PLC0415 - start-up: pydantic, not for --help

            self._settings[key] = load_settings(
                root=self.root,
                params_file=self.params_file,
                database_url=self.database_url,
                overrides=clean,
                option_names=option_names,
            )
        return self._settings[key]

    def known_settings(self) -> Settings | KnownSettings:
        """The root, home and store path (all ``show`` needs): as an earlier run validated them, without
        importing pydantic (``goldkeeper.dataset.known``); else the settings validated now, and remembered."""
        from goldkeeper.dataset.known import ParamsInputs  # noqa: PLC0415 - start-up

        inputs = ParamsInputs.of(self.root, self.params_file, self.database_url)
        memo = inputs.memo()
        known = inputs.recall(memo)
        if known is not None:
            return known
        settings = self.settings()
        inputs.remember(memo, settings)
        return settings

    def project(self, *, option_names: Mapping[str, str] | None = None, **overrides: Any) -> Project:
        """The application layer for this invocation, with terminal progress (arguments: :meth:`settings`)."""
        from goldkeeper.cli.output import progress_for_terminal  # noqa: PLC0415 - start-up
        from goldkeeper.project import Project  # noqa: PLC0415 - start-up: the application layer, not for --help

        return Project(self.settings(option_names=option_names, **overrides), progress=progress_for_terminal())


@click.group(
    cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="goldkeeper")
@click.option(
    "--database-url",
    envvar=None,
    metavar="URL",
    help="PostgreSQL URL. Default: $GOLDKEEPER_DATABASE_URL, $DATABASE_URL, else the embedded server in .goldkeeper/.",
)
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parameters file (default: params.yaml in the current directory or the nearest parent holding one, "
    "within the git repository, as git finds .git; that directory is the project root). Given: no search, the "
    "current directory is the root.",
)
@click.option(
    "-C",
    "--project",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in this directory (params.yaml is searched from there).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, params_file: Path | None, root: Path | None, debug: bool) -> None:
    """goldkeeper keeps the golden dataset of a RAG system safe, checked, reviewable and measured.

    Dump it from PostgreSQL + pgvector into canonical sharded JSON for Git, restore it anywhere with
    embeddings regenerated, verify its integrity contracts, review its diffs, and gate CI on evals.

    Run it anywhere in a project: it finds params.yaml like git finds .git (the current directory or the
    nearest parent holding one, not above the git repository's top) and takes its directory as the project
    root. Paths in params.yaml are relative to that root, paths on the command line to the current directory.
    """
    ctx.obj = AppState(database_url=database_url, params_file=params_file, root=root, debug=debug)


pass_state = click.make_pass_decorator(AppState)


class InputFile(click.Path):
    """A file the command reads itself, without the project: relative to ``-C DIR``, as the paths the project
    resolves are (Settings.cwd). ``exists``: a missing one is refused (exit 2).

    Parsing only makes it a Path; :func:`input_file` resolves and checks it in the command's body. click converts
    each parameter as the command line gives it, so resolving here read ``gate --annotations F -C DIR``'s F
    before the -C that follows it had been seen (relative to the process's directory).
    """

    def __init__(self, *, exists: bool = True) -> None:
        super().__init__(exists=False, readable=False, path_type=Path)
        self.name = "file"  # the metavar FILE, as a file-only click.Path shows it
        self.must_exist = exists


def input_file(name: str, value: Path) -> Path:
    """The ``InputFile`` parameter ``name`` of the running command, given as ``value``: joined to ``-C DIR`` when
    relative (with every option read, wherever -C stood) and checked as click checks a file (exit 2)."""
    ctx = click.get_current_context()
    param = next(p for p in ctx.command.params if p.name == name)
    state = ctx.find_object(AppState)
    if state is not None and state.root is not None and not value.is_absolute():
        value = state.root / value
    exists = isinstance(param.type, InputFile) and param.type.must_exist
    return click.Path(exists=exists, dir_okay=False, path_type=Path).convert(value, param, ctx)


#: the root's options that every command accepts after its name too: (flags, AppState field, click settings)
_GLOBAL_OPTIONS: list[tuple[list[str], str, dict[str, Any]]] = [
    (["--database-url"], "database_url", {"metavar": "URL"}),
    (["--params"], "params_file", {"type": click.Path(dir_okay=False, path_type=Path)}),
    (["-C", "--project"], "root", {"type": click.Path(file_okay=False, path_type=Path)}),
    (["--debug"], "debug", {"is_flag": True}),
]


def _set_state(field_name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A callback that stores a global option given after the subcommand into the invocation's AppState."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        state = ctx.find_object(AppState)
        if state is None or value is None or value is False:
            return
        setattr(state, field_name, value)
        state._settings.clear()  # settings depend on these options

    return callback


def accept_global_options(group: click.Group) -> None:
    """Let every command under ``group`` take the root's options after its name too.

    ``goldkeeper verify --debug`` and ``goldkeeper db url --database-url X`` then mean what
    ``goldkeeper --debug verify`` and ``goldkeeper --database-url X db url`` mean; given in both
    places, the one after the command wins. The options are hidden in each command's help (the
    root's help lists them) and never reach the command's function.
    """
    for command in group.commands.values():
        names = {name for param in command.params for name in getattr(param, "opts", [])}
        for flags, field_name, settings in _GLOBAL_OPTIONS:
            if not names.intersection(flags):
                command.params.append(
                    click.Option(flags, expose_value=False, hidden=True, callback=_set_state(field_name), **settings)
                )
        if isinstance(command, click.Group):
            accept_global_options(command)


def with_options(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    """Apply a list of click options in order, so a command with many options stays readable."""

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
