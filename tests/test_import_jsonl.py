"""JSON lines import / export: kind detection, errors naming the line and field, streaming, the database path."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from cli_support import run_cli as run
from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.importers.backup import parse_backup
from goldkeeper.importers.common import read_json_file
from goldkeeper.importers.jsonl import export_jsonl, load_jsonl
from goldkeeper.models import Analysis, Expected, ExpectedBehavior, Query, Relevance

BACKUP = Path(__file__).parent / "data" / "skillforge" / "skillforge-backup.json"


def analyses() -> list[Analysis]:
    return parse_backup(orjson.loads(BACKUP.read_bytes()))


def queries() -> list[Query]:
    chunk = analyses()[0].chunks[1]
    answer = ExpectedBehavior(behavior="answer", must_not=["fabricate_citation"])
    return [
        Query(
            id="tasks-1",
            text="How are coroutines scheduled concurrently?",
            domain="python",
            expected=Expected(chunks=[Relevance(id=chunk.id)]),
            expected_behavior=answer,
        ),
        Query(
            id="tasks-2",
            text="Who wrote asyncio?",
            domain="python",
            expected_behavior=ExpectedBehavior(behavior="refuse"),
        ),
    ]


def write_lines(path: Path, records: list[Any]) -> Path:
    body = [r if isinstance(r, str) else orjson.dumps(r.model_dump(mode="json")).decode() for r in records]
    path.write_text("\n".join(body) + "\n")
    return path


def test_the_kind_is_detected_and_records_round_trip(tmp_path: Path) -> None:
    a = write_lines(tmp_path / "a.jsonl", [*analyses(), ""])  # a trailing blank line is skipped
    q = write_lines(tmp_path / "q.jsonl", queries())
    loaded_a, loaded_q = load_jsonl(a), load_jsonl(q)
    assert loaded_a.kinds == {"analyses"} and list(loaded_a.analyses) == analyses()
    assert loaded_q.kinds == {"queries"} and list(loaded_q.queries) == queries()
    data, counts = export_jsonl(analyses(), [], "analyses")
    assert counts == {"analyses": 4}
    assert [orjson.loads(line) for line in data.splitlines()] == [
        a.model_dump(mode="json") for a in sorted(analyses(), key=lambda a: str(a.id))
    ]


@pytest.mark.parametrize(
    ("lines", "kind", "message"),
    [
        (
            ['{"id": "q1", "text": "x", "domain": "d", "expected_behavior": {"behavior": "answer"}}', "{"],
            None,
            "line 2: not valid JSON",
        ),
        (
            [
                '{"id": "q1", "text": "x", "domain": "d", "expected_behavior": {"behavior": "answer"}}',
                "",
                '{"id": "q2", "text": "y", "domain": "d"}',
            ],
            None,
            "x.jsonl line 3: record q2: field expected_behavior: Field required",
        ),
        (
            ['{"id": "q1", "text": "x", "domain": "d", "expected_behavior": {"behavior": "guess"}}'],
            None,
            "line 1: record q1: field expected_behavior.behavior:",
        ),
        (['{"title": "no url, no text"}'], None, "x.jsonl line 1: cannot tell whether the records are analyses"),
        (
            ['{"id": "q1", "text": "x", "domain": "d", "expected_behavior": {"behavior": "answer"}}'],
            "analyses",
            "line 1: record q1: field id: Input should be a valid UUID",
        ),
        (["[1, 2]"], "queries", "x.jsonl line 1: must be a JSON object"),
        (
            ['{"id": "q1", "text": " \\t ", "domain": "d", "expected_behavior": {"behavior": "refuse"}}'],
            None,
            "x.jsonl line 1: record q1: field text: String should have a character other than whitespace",
        ),
        (["", "  "], None, "x.jsonl: no records (the file is empty)"),
    ],
)
def test_errors_name_the_line_and_the_field(tmp_path: Path, lines: list[str], kind: str | None, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataIntegrityError) as info:
        records = load_jsonl(path, kind)
        list(records.analyses) + list(records.queries)
    assert message in str(info.value)


def test_records_are_read_as_they_are_consumed(tmp_path: Path) -> None:
    """Streamed: from a pipe whose writer has sent one line and waits, the first record already comes out."""
    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    first, rest = (orjson.dumps(q.model_dump(mode="json")) + b"\n" for q in queries())
    release, sent_rest = threading.Event(), threading.Event()

    def writer() -> None:
        with open(fifo, "wb", buffering=0) as pipe:
            pipe.write(first)
            release.wait(5)  # a reader that wants the whole file gets it only after this times out
            pipe.write(rest + b'{"id": "bad"}\n')
            sent_rest.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    records = iter(load_jsonl(fifo, "queries").queries)
    assert next(records).id == "tasks-1"
    assert not sent_rest.is_set()  # the first record came out before the writer sent line 2
    release.set()
    assert next(records).id == "tasks-2"
    with pytest.raises(RecordValidationError, match="records.fifo line 3: record bad: field text: Field required"):
        next(records)
    thread.join(30)


def test_cli_import_streams_into_the_database_and_exports(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", database_url]
    write_lines(project / "analyses.jsonl", analyses())
    write_lines(project / "queries.jsonl", queries())
    code, out, err = run([*db, "import", "jsonl", "analyses.jsonl", "--json"], capsys)
    assert code == 0, err
    assert orjson.loads(out)["analyses"]["counts"]["added"] == 4 and orjson.loads(out)["staged"]["analyses"] == 4
    code, out, err = run([*db, "import", "jsonl", "queries.jsonl", "--kind", "queries", "--replace", "--json"], capsys)
    assert code == 0, err
    report = orjson.loads(out)
    assert report["queries"]["added"] == ["tasks-1", "tasks-2"] and report["analyses"]["counts"]["removed"] == 0

    bad = [*queries()[:1], '{"id": "tasks-3", "text": "x", "domain": "d", "expected_behavior": {"behavior": "answr"}}']
    write_lines(project / "bad.jsonl", bad)
    code, out, err = run([*db, "import", "jsonl", "bad.jsonl", "--replace"], capsys)
    assert code == 5 and len(err.strip().splitlines()) == 1
    assert f"{project / 'bad.jsonl'} line 2: record tasks-3: field expected_behavior.behavior:" in err
    with psycopg.connect(database_url) as conn:  # rolled back: tasks-2 was not removed by the failed replace
        assert conn.execute("SELECT count(*) FROM golden.queries").fetchone() == (2,)

    assert run([*db, "dump"], capsys)[0] == 0
    code, out, err = run(["export", "jsonl", "out.jsonl", "--kind", "queries", "--json"], capsys)
    assert code == 0 and orjson.loads(out)["counts"] == {"queries": 2}
    exported = [orjson.loads(line) for line in (project / "out.jsonl").read_bytes().splitlines()]
    assert exported == [q.model_dump(mode="json") for q in queries()]
    code, _, err = run(["export", "jsonl", "out.jsonl"], capsys)
    assert code == 2 and "--kind" in err


@pytest.mark.parametrize("number", ["1e400", "0.1000000000000000000001", "-1180591620717411303424"])
def test_a_number_the_store_cannot_hold_is_refused_naming_line_record_and_field(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str], number: str
) -> None:
    """orjson read 0.1000000000000000000001 as 0.1 and 2**70 as a rounded float (1e400: "not valid JSON")."""
    records = sorted((a.model_dump(mode="json") for a in analyses()), key=lambda r: r["artifact"] is not None)[-2:]
    records[1]["artifact"]["metadata"] = {"ok": [1.5, 0.1], "s": "Café ✓ 1234567890123456789012", "bad": "NUMBER"}
    lines = [orjson.dumps(r).decode().replace('"NUMBER"', number) for r in records]
    (project / "a.jsonl").write_text("\n".join(lines) + "\n")
    code, out, err = run(["--database-url", database_url, "import", "jsonl", "a.jsonl"], capsys)
    assert (code, out) == (5, "") and len(err.strip().splitlines()) == 1, err
    assert err.startswith(
        f"error: {project / 'a.jsonl'} line 2: record {records[1]['id']}: field artifact.metadata.bad: "
        f"the number {number} is neither a 64-bit integer nor a double"
    ), err
    with psycopg.connect(database_url) as conn:  # rolled back: not even line 1
        if conn.execute("SELECT to_regclass('golden.analyses')").fetchone() != (None,):
            assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (0,)


def test_a_windows_editors_byte_order_mark_and_crlf_are_read_and_utf16_is_named(tmp_path: Path) -> None:
    # PowerShell's Out-File and Notepad write a UTF-8 BOM and CRLF; eval grounded and eval trec read such files
    lines = [orjson.dumps(q.model_dump(mode="json")) for q in queries()]
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    assert list(load_jsonl(path).queries) == queries()
    backup = tmp_path / "backup.json"
    backup.write_bytes(b"\xef\xbb\xbf" + BACKUP.read_bytes().replace(b"\n", b"\r\n"))
    assert read_json_file(backup, "backup") == orjson.loads(BACKUP.read_bytes())
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(b"\n".join(lines).decode().encode("utf-16"))
    with pytest.raises(DataIntegrityError, match=r"wide.jsonl: the file is UTF-16 encoded; save it as UTF-8$"):
        load_jsonl(wide)
    backup.write_bytes(BACKUP.read_text().encode("utf-16"))
    with pytest.raises(DataIntegrityError, match="backup.json: the file is UTF-16 encoded"):
        read_json_file(backup, "backup")


def test_a_duplicate_id_names_the_file(project: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # the duplicate is found in the database's staging tables; the user must still learn which file holds it
    write_lines(project / "twice.jsonl", [*queries(), queries()[0]])
    code, _, err = run(["--database-url", database_url, "import", "jsonl", "twice.jsonl"], capsys)
    assert code == 5
    assert err.strip() == f"error: {project / 'twice.jsonl'}: duplicate query id tasks-1 in the records to restore"


def test_an_analyses_replace_removing_a_chunk_a_query_expects_is_refused(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An analyses file replaces the analyses and keeps the queries: dropping a chunk one of them expects (or
    its whole analysis) would leave it pointing nowhere (verify --db: db.dangling_expected), a silent miss in
    every eval. Refused like a query pointing at a missing chunk: named, exit 5, nothing changed."""
    db = ["--database-url", database_url]
    records = analyses()
    chunk = records[0].chunks[1].id
    dropped = records[0].model_copy(update={"chunks": [c for c in records[0].chunks if c.id != chunk]})
    write_lines(project / "a.jsonl", records)
    write_lines(project / "q.jsonl", queries())
    write_lines(project / "dropped.jsonl", [dropped, *records[1:]])
    write_lines(project / "gone.jsonl", records[1:])
    assert run([*db, "import", "jsonl", "a.jsonl"], capsys)[0] == 0
    assert run([*db, "import", "jsonl", "q.jsonl"], capsys)[0] == 0
    message = (
        f"error: 1 query expectation(s) point at chunks/analyses that would not exist: tasks-1 -> chunk {chunk}; "
        "nothing was changed"
    )
    for args in (
        ["dropped.jsonl", "--replace"],
        ["dropped.jsonl", "--replace", "--dry-run"],
        ["gone.jsonl", "--replace"],
    ):
        code, out, err = run([*db, "import", "jsonl", *args], capsys)
        assert (code, out) == (5, "") and err.startswith(message), err
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM golden.chunks WHERE id = %s", (chunk,)).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (4,)
        # an expectation already pointing nowhere (deleted by hand) is not the import's to refuse
        conn.execute("DELETE FROM golden.chunks WHERE id = %s", (chunk,))
    assert run([*db, "import", "jsonl", "dropped.jsonl", "--replace"], capsys)[0] == 0


def test_chunks_longer_than_the_model_reads_are_a_warning_naming_the_longest(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """all-MiniLM-L6-v2 reads 512 tokens: the rest of a longer chunk was cut without a word."""
    record = analyses()[0]
    chunks = [
        c.model_copy(update={"content": "glacier valley " * n})
        for c, n in zip(record.chunks[:2], (300, 260), strict=True)
    ]
    write_lines(project / "long.jsonl", [record.model_copy(update={"chunks": [*chunks, *record.chunks[2:]]})])
    code, out, err = run(["--database-url", database_url, "import", "jsonl", "long.jsonl", "--json"], capsys)
    warning = (
        "warning: 2 chunk(s) are longer than the model's 512 tokens: only their first 512 are embedded, the rest "
        f"does not move the vector (split them); the longest: chunk {chunks[0].id} (602 tokens)"
    )
    assert code == 0 and err.strip() == warning and orjson.loads(out)["warnings"] == [warning]
    # the same chunks again, their vectors from the embedding cache: warned when computed, not on every restore
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM golden.analyses WHERE id = %s", (record.id,))
    code, out, err = run(["--database-url", database_url, "import", "jsonl", "long.jsonl", "--json"], capsys)
    document = orjson.loads(out)
    assert (code, err, document["warnings"]) == (0, "", []) and document["embeddings"]["computed"] == 0
    code, out, err = run(["--database-url", database_url, "import", "jsonl", "long.jsonl"], capsys)  # unchanged
    assert (code, err) == (0, "")
    assert "\nembedded nothing: every chunk already has its vector by sentence-transformers/all-MiniLM-L6-v2@" in out
