"""run_program with real programs: the stdout limit, stdin fed while output is read, the timeout across reads."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from goldkeeper import programs
from goldkeeper.config import EmbeddingParams
from goldkeeper.embed.command_backend import CommandEmbedder
from goldkeeper.errors import ConfigError, EvalError
from goldkeeper.evals.answerers import CommandAnswerer
from goldkeeper.evals.judges import CommandJudge
from goldkeeper.programs import run_program
from test_grounded_scores import answer_query

MiB = 2**20
# writes its pid and its parent's to argv[1], then 64 KiB blocks to stdout for ever
FLOOD = (
    "import os, sys\n"
    "open(sys.argv[1], 'w').write(f'{os.getpid()} {os.getppid()}')\n"
    "while True:\n"
    "    sys.stdout.buffer.write(b'x' * 65536)\n"
)
# writes each line of stdin back as it reads it: its stdout fills while its stdin is still being fed
ECHO = "import sys\nfor line in sys.stdin.buffer:\n    sys.stdout.buffer.write(line)\n"


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def wrapped(code: str, *args: str) -> list[str]:
    """``code`` run by a shell that stays its parent (a command after it keeps sh from exec'ing it)."""
    return ["sh", "-c", '"$@"; echo after', "sh", *python(code, *args)]


def assert_gone(*pids: int) -> None:
    """Each pid is dead (SIGKILL lands asynchronously; a killed orphan may stay a zombie until init reaps it)."""
    deadline = time.monotonic() + 5
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.05)
    assert not alive, f"processes {alive} survived"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stdout_past_the_limit_stops_the_program_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    done = run_program(wrapped(FLOOD, str(pids)), b"", cwd=tmp_path, timeout=30, max_stdout=MiB)
    assert done == programs.ProgramRun(b"", "wrote more than 1 MiB to stdout")
    assert time.monotonic() - started < 20, "stopped by the limit, not by the timeout"
    worker, shell = (int(pid) for pid in pids.read_text().split())
    assert shell != worker, "the worker is the shell's child, not the shell itself"
    assert_gone(worker, shell)


def test_the_limit_holds_while_stdin_is_still_being_fed(tmp_path: Path) -> None:
    # the program never reads its 8 MiB of stdin: the writer must not block the reader of stdout
    done = run_program(
        python(FLOOD, str(tmp_path / "pids")), b"y\n" * 4 * MiB, cwd=tmp_path, timeout=30, max_stdout=MiB
    )
    assert done.failure == "wrote more than 1 MiB to stdout"


def test_output_up_to_the_limit_is_kept_whole(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.buffer.write(b'z' * int(sys.argv[1]))"
    assert run_program(python(code, str(MiB)), b"", cwd=tmp_path, timeout=30, max_stdout=MiB).stdout == b"z" * MiB
    over = run_program(python(code, str(MiB + 1)), b"", cwd=tmp_path, timeout=30, max_stdout=MiB)
    assert over.failure == "wrote more than 1 MiB to stdout"


def test_large_stdin_and_large_stdout_do_not_deadlock(tmp_path: Path) -> None:
    stdin = b"".join(b"%07d " % i + b"a" * 55 + b"\n" for i in range(2 * MiB // 64))
    assert len(stdin) == 2 * MiB
    done = run_program(python(ECHO), stdin, cwd=tmp_path, timeout=60)
    assert done == programs.ProgramRun(stdin)


def test_a_program_that_stops_reading_its_stdin_is_heard_out(tmp_path: Path) -> None:
    done = run_program(python("print('early')"), b"q\n" * MiB, cwd=tmp_path, timeout=30)
    assert done == programs.ProgramRun(b"early\n")


def test_the_timeout_covers_a_program_that_keeps_writing(tmp_path: Path) -> None:
    trickle = "import sys, time\nwhile True:\n    sys.stdout.buffer.write(b'.'); sys.stdout.flush(); time.sleep(0.05)\n"
    started = time.monotonic()
    done = run_program(python(trickle), b"", cwd=tmp_path, timeout=1)
    assert done == programs.ProgramRun(b"", "timed out after 1 s")
    assert time.monotonic() - started < 5


def test_the_timeout_covers_a_program_that_closes_its_output_and_stays(tmp_path: Path) -> None:
    code = "import os, time\nos.close(1); os.close(2)\ntime.sleep(30)\n"
    started = time.monotonic()
    assert run_program(python(code), b"", cwd=tmp_path, timeout=1).failure == "timed out after 1 s"
    assert time.monotonic() - started < 5


def test_only_the_last_stderr_line_is_reported_after_much_stderr(tmp_path: Path) -> None:
    code = "import sys\nsys.stderr.write('noise\\n' * 500000 + 'model server unavailable\\n')\nsys.exit(3)\n"
    done = run_program(python(code), b"", cwd=tmp_path, timeout=30)
    assert (done.failure, done.detail) == ("exited with status 3", ": model server unavailable")


def test_the_answerer_fails_the_batch_that_wrote_too_much(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the default limit (256 MiB) is read when a program runs: a smaller one keeps the test light
    monkeypatch.setattr(programs, "MAX_STDOUT_BYTES", MiB)
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    argv = f"{sys.executable} {script} {tmp_path / 'pids'}"
    answers = CommandAnswerer(argv, cwd=tmp_path, batch_size=1, timeout_s=30).answer([answer_query()])
    assert answers.failures["q1"] == (
        "malformed",
        "answerer command wrote more than 1 MiB to stdout on batch 1 (1 prompts)",
    )


def test_the_judge_and_the_embedder_name_the_batch_that_wrote_too_much(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(programs, "MAX_STDOUT_BYTES", MiB)
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    command = f"{sys.executable} {script} {tmp_path / 'pids'}"
    judge = CommandJudge(command, None, cwd=tmp_path, batch_size=2, timeout_s=30)
    with pytest.raises(EvalError, match=r"^judge command:.*: wrote more than 1 MiB to stdout on pairs 0-1$"):
        judge.judge_many([("a claim", "evidence"), ("another", "evidence")])
    params = EmbeddingParams(provider=f"command:{command}", model="flood", dimensions=4)
    with pytest.raises(ConfigError, match=r"^embedding command .* \(texts 0-1\) wrote more than 1 MiB to stdout$"):
        CommandEmbedder(params, cwd=tmp_path).embed_documents(["one", "two"])


def test_a_python_traceback_reports_its_exception_not_the_caret_line() -> None:
    """psycopg's errors end in a ``LINE 1: ...`` and a ``^`` line: the last stderr line alone said ``: ^``."""
    code = (
        "import sys\n"
        "def query():\n"
        "    raise RuntimeError('column a.source_url does not exist\\nLINE 1: select a.source_url\\n        ^')\n"
        "query()\n"
    )
    done = run_program(python(code), b"", cwd=None, timeout=30)
    assert done.failure == "exited with status 1"
    assert done.detail == ": RuntimeError: column a.source_url does not exist"


def test_a_last_stderr_line_without_words_is_skipped() -> None:
    code = "import sys\nsys.stderr.write('error: no such table\\n-----\\n')\nsys.exit(2)\n"
    assert run_program(python(code), b"", cwd=None, timeout=30).detail == ": error: no such table"
