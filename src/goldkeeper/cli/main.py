"""The root ``goldkeeper`` group and the shared per-invocation state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from goldkeeper import __version__
from goldkeeper.cli.output import progress_for_terminal
from goldkeeper.config import Settings, load_settings
from goldkeeper.project import Project

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppState:
    """What every command can reach through ``click.pass_obj``."""

    database_url: str | None = None
    params_file: Path | None = None
    root: Path | None = None
    debug: bool = False
    _settings: dict[str, Settings] = field(default_factory=dict)

    def settings(self, **overrides: Any) -> Settings:
        """Settings from params.yaml + env + the global options (+ per-command overrides)."""
        clean = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in overrides.items()}
        key = repr(sorted(clean.items()))
        if key not in self._settings:
            self._settings[key] = load_settings(
                root=self.root, params_file=self.params_file, database_url=self.database_url, overrides=clean
            )
        return self._settings[key]

    def project(self, **overrides: Any) -> Project:
        """The application layer for this invocation, with terminal progress."""
        return Project(self.settings(**overrides), progress=progress_for_terminal())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    help="Parameters file (default: ./params.yaml).",
)
@click.option(
    "-C",
    "--project",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in this directory.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, params_file: Path | None, root: Path | None, debug: bool) -> None:
    """goldkeeper keeps the golden dataset of a RAG system safe, checked, reviewable and measured.

    Dump it from PostgreSQL + pgvector into canonical sharded JSON for Git, restore it anywhere with
    embeddings regenerated, verify its integrity contracts, review its diffs, and gate CI on evals.
    """
    ctx.obj = AppState(database_url=database_url, params_file=params_file, root=root, debug=debug)


pass_state = click.make_pass_decorator(AppState)

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
