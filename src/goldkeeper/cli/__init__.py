"""The command line: click commands only. Parse options, call the library, render.

Each ``cli/<area>.py`` module defines ``register(group)``; the root group imports one
when a command of it is first resolved (:data:`goldkeeper.cli.main.COMMANDS`), so start-up
pays only for the command that runs. Errors are mapped here, once: a :class:`GoldkeeperError` becomes
``error: <message>`` on stderr and its exit code; anything else is an internal
error (exit 1, only ever a bug). Tracebacks only with ``--debug`` (or ``GOLDKEEPER_DEBUG=1``), printed
before that same line: ``--debug`` never changes an exit code.
Warnings the library logs on the ``goldkeeper`` logger (an orphaned embedded
server, a wait for the golden lock) are shown as ``warning: <message>`` on stderr.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback

import click

from goldkeeper.cli.main import COMMANDS, cli
from goldkeeper.dataset.inert import log_safe
from goldkeeper.errors import GoldkeeperError

#: the modules that add commands to ``cli``; one per capability.
COMMAND_MODULES = list(dict.fromkeys(module for modules, _ in COMMANDS.values() for module in modules))


def _register_all() -> None:
    """Import every command module now (tests and the start-up check; ``main`` loads only what runs)."""
    cli.load(tuple(COMMAND_MODULES))


class _StderrWarnings(logging.Handler):
    """The library's warnings, one line each on stderr (the library itself never prints)."""

    def emit(self, record: logging.LogRecord) -> None:
        # start-up: the output helpers only when there is a warning to show
        from goldkeeper.cli.output import echo_err_line  # noqa: PLC0415

        echo_err_line(log_safe(f"{record.levelname.lower()}: {record.getMessage()}"))


def _show_library_warnings() -> None:
    logger = logging.getLogger("goldkeeper")
    if not any(isinstance(handler, _StderrWarnings) for handler in logger.handlers):
        logger.addHandler(_StderrWarnings(logging.WARNING))
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("GOLDKEEPER_DEBUG") == "1"


def _error_text(exc: GoldkeeperError) -> str:
    """``error: <message>``, one line with its controls escaped; an error listing several problems
    (``details['lines']``, e.g. a refused restore: one per violation) gets one escaped line each."""
    lines = exc.details.get("lines")
    if isinstance(lines, tuple | list) and lines:
        return "error: " + "\n".join(log_safe(str(line)) for line in lines)
    return f"error: {log_safe(str(exc))}"


#: the allocations between two young-generation collections (Python's default: 700). Start-up creates a
#: few hundred thousand long-lived objects (click, pydantic's schemas) and a diff parses a shard into as
#: many plain dicts; at 700, the collector ran about 130 times during `goldkeeper diff` of 1,000,000
#: chunks and walked every object of the process in a full collection, about a fifth of the
#: command's CPU time. Garbage cycles are still collected, just in larger batches.
GC_YOUNG_THRESHOLD = 20_000


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` comes of a Ctrl-C: a C extension imported lazily (onnxruntime) turns the
    KeyboardInterrupt that hits its initialisation into ``ImportError: initialization failed``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


#: why a command started in a directory that no longer exists fails (Path.cwd() raises, with no file named)
CWD_GONE = (
    "the current directory no longer exists (dump and fmt replace the store's folders as a whole, so a shell "
    "inside golden/ is left in the removed one): cd into it again, or give -C DIR"
)


def _cwd_gone() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    young, middle, old = gc.get_threshold()
    if young:  # 0: the collector was switched off on purpose
        gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), middle, old)
    # goldkeeper's own models need no pydantic plugins, and looking for them scans every installed
    # package's entry points at the first model class (start-up); an explicit setting wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _show_library_warnings()
    try:
        result = cli.main(args=argv, prog_name="goldkeeper", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GoldkeeperError as exc:
        if debug:
            traceback.print_exc()
        click.echo(_error_text(exc), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            traceback.print_exc()
        if interrupted(exc):
            click.echo("interrupted", err=True)
            sys.exit(130)
        if isinstance(exc, FileNotFoundError) and _cwd_gone():
            click.echo(f"error: {CWD_GONE}", err=True)
            sys.exit(2)
        click.echo(
            f"internal error: {type(exc).__name__}: {log_safe(str(exc))} (rerun with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
