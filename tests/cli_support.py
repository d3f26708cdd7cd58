"""Run the real ``goldkeeper`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import pytest

from goldkeeper.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``goldkeeper ARGV``."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
