"""Run the real ``goldkeeper`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import signal

import pytest

from goldkeeper.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``goldkeeper ARGV``."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def ctrl_c_reaches() -> None:
    """``preexec_fn`` of a child a test sends SIGINT (a Ctrl-C) to: a shell starts background jobs, and so a CI
    runner and pytest-xdist's workers under it, with SIGINT ignored, which children inherit and Python keeps; with
    the default disposition the child's Python turns SIGINT into KeyboardInterrupt as in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
