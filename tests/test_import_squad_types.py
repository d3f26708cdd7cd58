"""Issue 11 item 12: `import squad` rejects wrong types by name and reads a bounded number of bytes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli_support import run_cli as run
from goldkeeper.cli.importers import squad_command
from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.importers.squad import DEFAULT_MAX_BYTES, load_squad, parse_squad, read_limited

REPO = Path(__file__).resolve().parent.parent
#: no database is reached: the file is read and refused first
NO_DB = ["--database-url", "postgresql://nobody@127.0.0.1:1/x"]


def squad(is_impossible: Any) -> dict[str, Any]:
    qa: dict[str, Any] = {"id": "q1", "question": "Who?", "answers": []}
    if is_impossible is not None:
        qa["is_impossible"] = is_impossible
    return {"data": [{"title": "T", "paragraphs": [{"context": "Somebody.", "qas": [qa]}]}]}


@pytest.mark.parametrize(("value", "got"), [("false", "str"), ("true", "str"), (0, "int"), (1, "int"), ([], "list")])
def test_is_impossible_of_a_wrong_type_is_an_error_naming_field_and_record(value: Any, got: str) -> None:
    with pytest.raises(RecordValidationError) as info:
        parse_squad(squad(value), file="bad.json")
    assert str(info.value) == f"bad.json: record q1: field is_impossible: must be bool, got {got}"
    assert (info.value.record_id, info.value.field) == ("q1", "is_impossible")


def test_is_impossible_booleans_and_absence_still_work() -> None:
    refused = parse_squad(squad(True)).queries[0]
    assert refused.expected_behavior.behavior == "refuse"
    # absent means answerable; this one has no answers, so it is the answerable-without-answers error
    for value in (False, None):
        with pytest.raises(RecordValidationError, match="an answerable question without answers"):
            parse_squad(squad(value))


def test_cli_names_the_field_of_a_string_boolean(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "strings.json").write_bytes(orjson.dumps(squad("false")))
    code, _, err = run([*NO_DB, "import", "squad", "strings.json"], capsys)
    assert code == 5
    assert "record q1: field is_impossible: must be bool, got str" in err and "Traceback" not in err


def test_dev_zero_is_a_quick_clear_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code, _, err = run([*NO_DB, "import", "squad", "/dev/zero"], capsys)
    assert code == 5 and err.startswith("error: /dev/zero: not valid JSON"), err
    assert time.monotonic() - started < 5


def test_dev_zero_does_not_grow_memory() -> None:
    """In a child whose address space is capped at 2 GiB, reading /dev/zero fails with the clear error."""
    program = (
        "import resource, sys\n"
        "from goldkeeper.errors import DataIntegrityError\n"
        "from goldkeeper.importers.squad import load_squad\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    load_squad('/dev/zero')\n"
        "except DataIntegrityError as exc:\n"
        "    print(exc)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    message, growth_kib = proc.stdout.splitlines()
    assert message.startswith("/dev/zero: not valid JSON")
    # the peak grows by at most a few blocks of 1 MiB while reading, never towards the 512 MiB limit (the
    # peak before reading, the interpreter and its imports, varies with the machine's load and allocator)
    assert int(growth_kib) < 16 * 1024


def test_size_limit_on_a_regular_file_and_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(orjson.dumps(squad(True)))
    size = path.stat().st_size
    assert len(load_squad(path, max_bytes=size).queries) == 1  # exactly at the limit: read
    with pytest.raises(
        DataIntegrityError, match=r"larger than the import limit of 10 bytes \(raise it with --max-bytes\)"
    ):
        load_squad(path, max_bytes=10)
    # a stream (no size to look at) is cut off as it passes the limit
    stream = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    try:
        with pytest.raises(DataIntegrityError, match="larger than the import limit"):
            read_limited(Path(f"/dev/fd/{stream.stdout.fileno()}"), max_bytes=10)  # type: ignore[union-attr]
    finally:
        stream.kill()
        stream.wait()


def test_cli_max_bytes_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    default = next(p.default for p in squad_command.params if p.name == "max_bytes")
    assert default == DEFAULT_MAX_BYTES == 512 * 1024 * 1024
    (project / "s.json").write_bytes(orjson.dumps(squad(True)))
    code, _, err = run([*NO_DB, "import", "squad", "--max-bytes", "20", "s.json"], capsys)
    assert code == 5 and "larger than the import limit of 20 bytes" in err
