"""Issue 11 item 6: a password never appears in anything goldkeeper prints or writes.

Connection strings are read by libpq's own parser; every form is tried (URI with the password in
the user info, percent-encoded, as a query parameter; key=value with quoted values holding spaces,
quotes and backslashes; PGPASSWORD; a service file). Connection errors come from a real
PostgreSQL-protocol peer on 127.0.0.1 that rejects the password and quotes it back in its error
(as a careless proxy might), so a message that passed server text through would leak it; the
end-to-end test runs restore / verify / dump against the embedded server with a password in the URL.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cli_support import run_cli as run
from golden_support import make_records
from goldkeeper.db.connection import MISREAD, REDACTED, UNPARSEABLE, connect, redact_url
from goldkeeper.errors import DatabaseError
from goldkeeper.store import write_store

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104
HOSTILE = list(" '\"\\%&=@/:?#+,;~!$*()[]{}<>|^`\t") + ["é", "漢", "p", "w", "1", "%20", "%zz", "***"]
PROPERTY = settings(
    max_examples=40, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def _recv(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


class EchoingPostgres:
    """A PostgreSQL-protocol peer: asks for a cleartext password, then refuses it and quotes it back."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        while True:
            (length,) = struct.unpack("!i", _recv(conn, 4))
            body = _recv(conn, length - 4)
            if struct.unpack("!i", body[:4])[0] not in (SSL_REQUEST, GSS_REQUEST):
                break
            conn.sendall(b"N")
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        _recv(conn, 1)
        (length,) = struct.unpack("!i", _recv(conn, 4))
        password = _recv(conn, length - 4).rstrip(b"\0").decode("utf-8", "replace")
        self.received.append(password)
        message = f'password authentication failed for user "u": got "{password}"'.encode()
        fields = b"SFATAL\0VFATAL\0C28P01\0M" + message + b"\0\0"
        conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)

    def stop(self) -> None:
        # close() alone does not wake a thread blocked in accept() (the join then waited its 10 s): shutdown does
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def echoing() -> Iterator[EchoingPostgres]:
    server = EchoingPostgres()
    try:
        yield server
    finally:
        server.stop()


passwords = st.lists(
    st.one_of(
        st.sampled_from(HOSTILE),
        st.characters(min_codepoint=32, max_codepoint=0x2FFF, categories=["L", "N", "P", "S", "Zs"]),
    ),
    min_size=1,
    max_size=16,
).map(lambda parts: f"Pw-{''.join(parts)}-Q7")  # distinctive: it can only appear if it leaked


def quoted(value: str) -> str:
    """A key=value value as a person writes it: single quotes, backslash escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


FORMS = {
    "uri": lambda pw, port: f"postgresql://u:{quote(pw, safe='')}@127.0.0.1:{port}/db?sslmode=disable",
    "uri-query": lambda pw, port: f"postgresql://u@127.0.0.1:{port}/db?sslmode=disable&password={quote(pw, safe='')}",
    "uri-postgres": lambda pw, port: f"postgres://u:{quote(pw, safe='')}@localhost:{port}/db",
    "key-value": lambda pw, port: f"host=127.0.0.1 port={port} user=u password={quoted(pw)} dbname=db",
    "key-value-spaced": lambda pw, port: f"host = 127.0.0.1  password = {quoted(pw)}  port={port} user=u",
    "make-conninfo": lambda pw, port: make_conninfo(host="127.0.0.1", port=str(port), user="u", password=pw),
}


def leaks(text: str, password: str) -> list[str]:
    """The forms of ``password`` that appear in ``text``."""
    forms = {password, quote(password, safe=""), quote(password), quote_plus(password), quoted(password)[1:-1]}
    return [form for form in forms if form in text]


@PROPERTY
@given(password=passwords, form=st.sampled_from(sorted(FORMS)))
def test_redacted_url_never_holds_the_password_and_keeps_everything_else(password: str, form: str) -> None:
    url = FORMS[form](password, 5432)
    assert conninfo_to_dict(url)["password"] == password  # the form is what libpq reads
    shown = redact_url(url)
    assert not leaks(shown, password), shown
    assert conninfo_to_dict(shown) == {**conninfo_to_dict(url), "password": REDACTED}
    assert shown.startswith("postgresql://") == form.startswith("uri")  # a URI stays a URI


@PROPERTY
@given(password=passwords, form=st.sampled_from(sorted(FORMS)))
def test_connection_errors_never_hold_the_password(echoing: EchoingPostgres, password: str, form: str) -> None:
    with pytest.raises(DatabaseError) as info:
        connect(FORMS[form](password, echoing.port))
    assert echoing.received[-1] == password  # the peer got it and quoted it back
    message = str(info.value)
    assert "password authentication failed" in message and REDACTED in message
    assert not leaks(message, password), message


@PROPERTY
@given(password=passwords, form=st.sampled_from(sorted(FORMS)))
def test_cli_db_url_and_errors_never_hold_the_password(
    echoing: EchoingPostgres, project: Path, capsys: pytest.CaptureFixture[str], password: str, form: str
) -> None:
    url = FORMS[form](password, echoing.port)
    code, out, err = run(["--database-url", url, "db", "url"], capsys)
    assert code == 0 and REDACTED in out and not leaks(out + err, password)
    code, out, err = run(["--database-url", url, "db", "init", "--json"], capsys)
    assert code == 4 and err.startswith("error: cannot connect to the database")
    assert not leaks(out + err, password), err


def test_pgpassword_is_scrubbed(echoing: EchoingPostgres, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "Pw-from env-Q7")
    with pytest.raises(DatabaseError) as info:
        connect(f"host=127.0.0.1 port={echoing.port} user=u sslmode=disable")
    assert echoing.received[-1] == "Pw-from env-Q7"
    assert "Pw-from env-Q7" not in str(info.value) and REDACTED in str(info.value)


def test_service_file_password_is_scrubbed(
    echoing: EchoingPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Pw-from the service=file: ; x-Q7"
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(f"# services\n[gk]\nhost=127.0.0.1\nport={echoing.port}\nuser=u\npassword={secret}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    for url in ("service=gk sslmode=disable", "postgresql:///db?service=gk&sslmode=disable"):
        assert redact_url(url) == url  # nothing secret in the string itself
        with pytest.raises(DatabaseError) as info:
            connect(url)
        assert echoing.received[-1] == secret
        assert secret not in str(info.value) and REDACTED in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:Pw-a@b-Q7@127.0.0.1:1/db",  # libpq: password "Pw-a", host "b-Q7@127.0.0.1" (shown)
        "postgresql://u:Pw-a/b-Q7@127.0.0.1:1/db",  # libpq: no user info; host "u", port "Pw-a" (nothing redacted)
    ],
)
def test_a_uri_password_with_an_unencoded_at_or_slash_is_never_shown(
    url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert redact_url(url) == MISREAD
    code, out, err = run(["--database-url", url, "db", "url"], capsys)
    assert (code, out) == (4, "") and err.startswith("error: the database URL is not usable: the URI's password")
    code, out, err = run(["--debug", "--database-url", url, "db", "init"], capsys)
    assert code == 4 and err.endswith(
        "percent-encode them (`%40`, `%2F`; `%` itself as `%25`) (the string is not shown: it may hold a password)\n"
    ), err
    assert "Pw-" not in out + err and "Q7" not in out + err


def test_debug_tracebacks_never_hold_the_password(
    echoing: EchoingPostgres, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--debug prints the psycopg error chained under goldkeeper's: the peer's echo of the password and libpq's
    quote of a string it cannot parse were printed there as they came."""
    password = "Pw-debug me@%:-Q7"
    for url in (
        FORMS["uri"](password, echoing.port),
        f"host=127.0.0.1 port={echoing.port} user=u password={password} sslmode=disable",  # unquoted: unparseable
    ):
        code, out, err = run(["--debug", "--database-url", url, "db", "init"], capsys)
        assert code == 4 and "Traceback" in err and "psycopg" in err, err
        assert not leaks(out + err, password) and "-Q7" not in err, err


_CANNOT_PARSE = "libpq cannot parse the connection string (not shown: it may hold a password)"
_BAD_PERCENT = (
    "the URI holds a `%` not followed by two hex digits (or `%00`): percent-encode `%` itself as `%25` "
    "(the string is not shown: it may hold a password)"
)


@pytest.mark.parametrize(
    ("url", "fragment", "reason"),
    [
        ("host=127.0.0.1 port=1 user=u password=Pw-a b c-Q7", "c-Q7", _CANNOT_PARSE),  # unquoted spaces
        ("postgresql://u:Pw-%zz-Q7@127.0.0.1:1/db", "Pw-%zz-Q7", _BAD_PERCENT),  # libpq quotes the bad token
        ("postgresql://u:Pw-100%-Q7@127.0.0.1:1/db", "Pw-100", _BAD_PERCENT),
        ("postgresql://u:Pw-%00-Q7@127.0.0.1:1/db", "Pw-%00", _BAD_PERCENT),  # libpq refuses an encoded NUL
        ("host=127.0.0.1 password='Pw-unterminated-Q7", "Pw-unterminated", _CANNOT_PARSE),
        ("not a url Pw-Q7", "Pw-Q7", _CANNOT_PARSE),
    ],
    ids=["unquoted-spaces", "bad-percent", "lone-percent", "percent-00", "unterminated-quote", "not-a-url"],
)
def test_strings_libpq_cannot_parse_are_never_shown(
    url: str, fragment: str, reason: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert redact_url(url) == UNPARSEABLE
    with pytest.raises(DatabaseError) as info:
        connect(url)
    message = str(info.value)
    assert message == f"cannot connect to the database: {reason}"
    assert fragment not in message and "Pw-" not in message
    # db url printed the placeholder with exit 0, as if it were the URL
    code, out, err = run(["--database-url", url, "db", "url"], capsys)
    assert (code, out, err) == (4, "", f"error: the database URL is not usable: {reason}\n")


@pytest.mark.slow
@pytest.mark.parametrize("form", ["uri", "uri-query", "key-value"])
def test_restore_verify_dump_never_print_or_write_the_password(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """Against the embedded server (it trusts its socket, so any password connects): stdout, stderr,
    --json output and every file written (marker, store, reports) are free of the password."""
    password = "Pw-a b'c\\d%20&e=f@g-Q7"
    params = {**conninfo_to_dict(database_url), "password": password}
    socket_dir, dbname = params["host"], params["dbname"]
    url = {
        "uri": f"postgresql://postgres:{quote(password, safe='')}@/{dbname}?host={socket_dir}",
        "uri-query": f"postgresql://postgres@/{dbname}?host={socket_dir}&password={quote(password, safe='')}",
        "key-value": f"host={quoted(socket_dir)} dbname={dbname} user=postgres password={quoted(password)}",
    }[form]
    analyses, queries = make_records(1)
    write_store(project / "golden", "t", analyses, queries, {"analyses": 1, "queries": 1})
    outputs = []
    for argv in (
        ["db", "url"],
        ["db", "init", "--json"],
        ["restore", "--json", "--marker", "artifacts/restore.json"],
        ["verify", "--db", "--json"],
        ["verify", "--db"],
        ["dump", "--out", "copy", "--json"],
    ):
        code, out, err = run(["--database-url", url, *argv], capsys)
        assert code == 0, (argv, err)
        outputs.append(out + err)
    written = [p for p in project.rglob("*") if p.is_file()]
    assert any(p.name == "restore.json" for p in written)
    for text in outputs + [p.read_bytes().decode("utf-8", "replace") for p in written]:
        assert not leaks(text, password)
