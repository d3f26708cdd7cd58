"""SkillForge backup import / export: the mapping rules, errors naming record and field, the database round trip."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from cli_support import run_cli as run
from goldkeeper.errors import RecordValidationError
from goldkeeper.importers.backup import parse_backup, split_section_path, title_from_url, to_backup

EXAMPLE = Path(__file__).parent / "data" / "skillforge" / "skillforge-backup.json"
UNTITLED = 2  # the example's analysis without a title (https://github.com/pgvector/pgvector)


def example() -> dict[str, Any]:
    return orjson.loads(EXAMPLE.read_bytes())


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """The example as export writes it back: the derived title filled in, created_at = newest analysis."""
    expected = copy.deepcopy(document)
    expected["analyses"][UNTITLED]["title"] = "pgvector"
    expected["created_at"] = max(a["created_at"] for a in expected["analyses"])
    return expected


def test_the_example_maps_titles_paths_and_counts() -> None:
    analyses = parse_backup(example(), file="ex.json")
    assert [a.title for a in analyses] == [
        "Coroutines and Tasks",
        "Index Types",
        "pgvector",
        "Retrieval-augmented generation",
    ]
    paths = [c.section_path for a in analyses for c in a.chunks]
    assert paths[2] == ["Coroutines and Tasks", "Creating Tasks", "Task Groups"]
    assert paths[6] == [] and paths[8] == ["Retrieval-augmented generation"]
    assert analyses[0].artifact is not None and analyses[0].artifact.metadata["tokens"] == 1834
    assert analyses[2].findings[1].confidence is None


def test_export_of_the_parsed_example_equals_it_modulo_the_documented_normalisations() -> None:
    document = orjson.loads(orjson.dumps(to_backup(parse_backup(example()))))
    assert document == normalised(example())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Guide / Install/", ["Guide", "Install"]),
        ("/a//b/", ["a", "b"]),
        ("", []),
        (None, []),
        (["a/b"], ["a/b"]),
    ],
)
def test_section_path_strings_are_split_on_slash(value: Any, expected: list[str]) -> None:
    assert split_section_path(value) == expected


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("https://github.com/pgvector/pgvector", "pgvector"),
        ("https://docs.python.org/3/library/asyncio-task.html", "asyncio task"),
        ("https://en.wikipedia.org/wiki/C%C3%B4te_d%27Ivoire", "Côte d'Ivoire"),
        ("https://example.org/", "example.org"),
    ],
)
def test_titles_are_derived_from_the_url(url: str, title: str) -> None:
    assert title_from_url(url) == title


def test_blank_title_is_derived_naive_times_are_utc_and_chunk_embeddings_are_dropped() -> None:
    document = example()
    document["analyses"][1]["created_at"] = "2026-02-12 14:02:41"
    document["analyses"][0]["title"] = "  "
    document["analyses"][0]["chunks"][0]["embedding"] = [0.1, 0.2, 0.3]
    analyses = parse_backup(document)
    assert analyses[0].title == "asyncio task"
    assert analyses[0].chunks[0].content.startswith("Coroutines declared")
    assert to_backup(analyses)["analyses"][1]["created_at"] == "2026-02-12T14:02:41Z"


def _set(path: str, value: Any) -> Any:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()
_ID0 = "1b7e4a52-3c1d-4f0e-9a6b-2d8c5e7f9a01"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("metadata.chunks_count", 11), "ex.json: field metadata.chunks_count: is 11 but the file holds 10 chunks"),
        (_set("metadata.size", 3), "ex.json: field metadata.size: unknown field"),
        (_set("version", "2.0"), "ex.json: field version: backup version '2.0' is not supported (major 1)"),
        (_set("exported_by", "cron"), "ex.json: field exported_by: unknown field"),
        (_set("analyses", _DELETE), "ex.json: field analyses: missing"),
        (
            _set("analyses.0.chunks.1.section_path", 7),
            f"ex.json: record analyses[0] {_ID0}: field chunks.1.section_path: Input should be a valid list",
        ),
        (
            _set("analyses.0.chunks.0.id", "c-1"),
            f"ex.json: record analyses[0] {_ID0}: field chunks.0.id: Input should be a valid UUID",
        ),
        (
            _set("analyses.0.findings.0.confidence", 1.5),
            f"ex.json: record analyses[0] {_ID0}: field findings.0.confidence: Input should be less than or equal to 1",
        ),
        (
            _set("analyses.1.owner", "x"),
            "ex.json: record analyses[1] 5a9d0e13-6c4b-4b2f-8e7d-3f1a2b4c6d02: field owner",
        ),
        (_set("analyses.3", "oops"), "ex.json: record analyses[3]: must be dict, got str"),
    ],
)
def test_errors_name_the_record_and_field(mutate: Any, message: str) -> None:
    document = example()
    mutate(document)
    with pytest.raises(RecordValidationError) as info:
        parse_backup(document, file="ex.json")
    assert str(info.value).startswith(message)


def test_cli_import_dump_export_round_trip(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", database_url]
    code, out, err = run([*db, "import", "backup", str(EXAMPLE), "--dry-run", "--json"], capsys)
    assert code == 0, err
    assert orjson.loads(out)["analyses"]["counts"]["added"] == 4 and orjson.loads(out)["dry_run"] is True
    code, out, err = run([*db, "import", "backup", str(EXAMPLE)], capsys)
    assert code == 0, err
    assert out.startswith("analyses: 4 added, 0 unchanged (skipped), 0 replaced, 0 removed, 0 conflicting")
    assert "embedded 10 chunks" in out
    with psycopg.connect(database_url) as conn:
        title = conn.execute("SELECT title FROM golden.analyses WHERE url LIKE '%pgvector/pgvector'").fetchone()
        path = conn.execute("SELECT section_path FROM golden.chunks WHERE section_title = 'Task Groups'").fetchone()
    assert title == ("pgvector",) and path == (["Coroutines and Tasks", "Creating Tasks", "Task Groups"],)
    code, out, err = run([*db, "import", "backup", str(EXAMPLE), "--json"], capsys)
    assert code == 0 and orjson.loads(out)["analyses"]["counts"]["skipped"] == 4

    assert run([*db, "dump"], capsys)[0] == 0
    code, out, err = run(["export", "backup", "out.json", "--json"], capsys)
    assert code == 0, err
    assert orjson.loads(out)["counts"] == {"analyses": 4, "chunks": 10, "findings": 6, "artifacts": 1}
    assert orjson.loads((project / "out.json").read_bytes()) == normalised(example())
    # the export imports to the same records: a second round trip changes nothing
    code, out, err = run([*db, "import", "backup", "out.json", "--json"], capsys)
    assert code == 0 and orjson.loads(out)["analyses"]["counts"]["skipped"] == 4


def test_cli_errors_are_one_line(project: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    document = example()
    document["metadata"]["findings_count"] = 5
    (project / "bad.json").write_bytes(orjson.dumps(document))
    code, _, err = run(["--database-url", database_url, "import", "backup", "bad.json"], capsys)
    assert code == 5
    assert (
        err.strip()
        == f"error: {project / 'bad.json'}: field metadata.findings_count: is 5 but the file holds 6 findings"
    )
    code, _, err = run(["import", "backup", "bad.json"], capsys)  # no database: the file is read first
    assert code == 5 and "metadata.findings_count" in err and not (project / ".goldkeeper").exists()
    (project / "broken.json").write_text("{")
    code, _, err = run(["--database-url", database_url, "import", "backup", "broken.json"], capsys)
    assert code == 5 and "the backup is not valid JSON" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("number", ["1e400", "0.1000000000000000000001", "123456789012345678901234567890"])
def test_a_number_the_store_cannot_hold_is_refused_naming_line_and_field(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    """orjson would import it as another number (0.1, a rounded float) or call 1e400 invalid JSON."""
    document = example()
    document["analyses"][0]["artifact"]["metadata"]["tokens"] = "NUMBER"
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).replace(b'"NUMBER"', number.encode())
    (project / "big.json").write_bytes(text)
    line = text[: text.index(number.encode())].count(b"\n") + 1
    code, out, err = run(["--database-url", database_url, "import", "backup", "big.json"], capsys)
    assert (code, out) == (5, "")
    assert err.strip() == (
        f"error: {project / 'big.json'} line {line}: field analyses.0.artifact.metadata.tokens: the number {number} "
        "is neither a 64-bit integer nor a double: the store's JSON would change it; write it as a string (or round it)"
    )
    with psycopg.connect(database_url) as conn:  # nothing imported
        if conn.execute("SELECT to_regclass('golden.artifacts')").fetchone() != (None,):
            assert conn.execute("SELECT count(*) FROM golden.artifacts").fetchone() == (0,)
