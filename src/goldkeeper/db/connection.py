"""Connections to PostgreSQL, with passwords kept out of every message.

psycopg errors are translated here, once, into :class:`DatabaseError`. A
database URL is shown to people only through :func:`redact_url`.

Connection strings are read by libpq's own parser (``psycopg.conninfo``), never
by a pattern: a URI (``postgresql://user:pw@host/db``, percent-encoded, or with
``?password=``) and key=value strings (``password='a b c'``, quoted, escaped)
are understood exactly as the connection itself understands them. A string
libpq cannot parse is never shown, and neither is libpq's message about it
(that message quotes the text around the mistake, which may be the password).
Error messages are scrubbed of every secret the connection could use: the
string's password, ``PGPASSWORD`` and the password of the service file entry.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from configparser import ConfigParser
from configparser import Error as ConfigParserError
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from goldkeeper.errors import DatabaseError

#: what a password is shown as
REDACTED = "***"
#: why a statement was cancelled by the server's statement_timeout, and how to lift it for goldkeeper alone
STATEMENT_TIMEOUT_HINT = (
    "the server's statement_timeout, set for this role or database, cancelled it: lift it for goldkeeper's "
    "connections with `options=-c statement_timeout=0` in the URL or PGOPTIONS='-c statement_timeout=0'"
)
#: what a connection string libpq cannot parse is shown as
UNPARSEABLE = "<a connection string libpq cannot parse; not shown, it may hold a password>"
#: what a URI libpq would read otherwise than written (:func:`_misread_uri`) is shown as
MISREAD = "<a postgresql:// URI with an unencoded @ or / in its user info; not shown, it may hold a password>"
_URI_PREFIXES = ("postgresql://", "postgres://")


def _misread_uri(url: str) -> bool:
    """A URI with an ``@`` before its query that libpq does not read as the end of the user info: a password
    holding an unencoded ``@`` (libpq ends the user info at the first one: the rest of the password becomes the
    host, shown in every message) or ``/`` (libpq then sees no user info at all: ``user:pass`` becomes host
    and port, so no password is redacted)."""
    text = url.strip()
    if not text.lower().startswith(_URI_PREFIXES):
        return False
    rest = text.split("://", 1)[1]
    at, slash = rest.find("@"), rest.find("/")
    if at != -1 and (slash == -1 or at < slash):  # libpq's rule: the user info ends at an @ before any /
        rest = rest[at + 1 :]
    return "@" in rest.split("?", 1)[0]


def conninfo_params(url: str) -> dict[str, str] | None:
    """libpq's reading of a connection string (URI or key=value), or None when libpq cannot parse it (or would
    read the password of a URI otherwise than written: :func:`_misread_uri`)."""
    if _misread_uri(url):
        return None
    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except psycopg.Error:
        return None


def redact_url(url: str) -> str:
    """The connection string with its password shown as ``***`` (a URI stays a URI)."""
    params = conninfo_params(url)
    if params is None:
        return MISREAD if _misread_uri(url) else UNPARSEABLE
    if "password" not in params:
        return url
    params["password"] = REDACTED
    if url.lstrip().lower().startswith(_URI_PREFIXES):
        return _as_uri(params)
    return make_conninfo(**params)


def _as_uri(params: dict[str, str]) -> str:
    """``params`` as a postgresql:// URI; hosts that do not fit the authority (lists, sockets) go to the query."""
    rest = dict(params)
    user = quote(rest.pop("user", ""), safe="")
    password = rest.pop("password")
    host, port = rest.get("host", ""), rest.get("port", "")
    authority = ""
    if host and "," not in host + port and not host.startswith("/"):
        rest.pop("host")
        rest.pop("port", None)
        authority = (f"[{host}]" if ":" in host else quote(host, safe="")) + (f":{port}" if port else "")
    dbname = quote(rest.pop("dbname", ""), safe="")
    query = ("?" + urlencode(rest, quote_via=quote, safe="/,")) if rest else ""
    return f"postgresql://{user}:{password}@{authority}/{dbname}{query}"


def _service_password(service: str | None) -> str | None:
    """The password of ``service`` in the service files libpq reads (PGSERVICEFILE, PGSYSCONFDIR)."""
    if not service:
        return None
    files = [os.environ.get("PGSERVICEFILE") or os.path.expanduser("~/.pg_service.conf")]
    if os.environ.get("PGSYSCONFDIR"):
        files.append(str(Path(os.environ["PGSYSCONFDIR"]) / "pg_service.conf"))
    parser = ConfigParser(
        interpolation=None, strict=False, delimiters=("=",), comment_prefixes=("#",)
    )  # as libpq reads it
    try:
        parser.read(files, encoding="utf-8")
    except (ConfigParserError, UnicodeDecodeError):
        return None
    return parser.get(service, "password", fallback=None)


def secrets_of(url: str | None) -> set[str]:
    """Every password a connection with ``url`` could use: its own, PGPASSWORD, its service file entry's."""
    params = (conninfo_params(url) if url else None) or {}
    found = {params.get("password"), os.environ.get("PGPASSWORD")}
    found.add(_service_password(params.get("service") or os.environ.get("PGSERVICE")))
    return {secret for secret in found if secret}


def scrub(message: str, url: str | None) -> str:
    """Remove every secret of the URL from a message that might echo it (as written, decoded or quoted)."""
    for secret in secrets_of(url):
        escaped = secret.replace("\\", "\\\\").replace("'", "\\'")
        for form in sorted({secret, quote(secret, safe=""), quote(secret), quote_plus(secret), escaped}, key=len)[::-1]:
            message = message.replace(form, REDACTED)
    return message


def _scrub_chain(exc: BaseException, url: str | None, unparseable: bool) -> None:
    """Scrub the text of ``exc`` and of the errors chained under it, in place: ``--debug`` prints them below
    the DatabaseError raised ``from`` it, and they may quote the password (a server echoing it, libpq quoting
    the text near a mistake in a string it cannot parse)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = (_unreadable_text(url or "") if unparseable else scrub(str(current), url),)
        current = current.__cause__ or current.__context__


_UNPARSEABLE_TEXT = "libpq cannot parse the connection string (not shown: it may hold a password)"
_MISREAD_TEXT = (
    "the URI's password (or user name) seems to hold an unencoded `@` or `/`, which libpq would read as part of "
    "the host: percent-encode them (`%40`, `%2F`; `%` itself as `%25`) "
    "(the string is not shown: it may hold a password)"
)


_PERCENT_TEXT = (
    "the URI holds a `%` not followed by two hex digits (or `%00`): percent-encode `%` itself as `%25` "
    "(the string is not shown: it may hold a password)"
)
#: a ``%`` libpq refuses in a URI: not followed by two hex digits, or encoding the NUL byte
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})|%00")


def _unreadable_text(url: str) -> str:
    if _misread_uri(url):
        return _MISREAD_TEXT
    if url.strip().lower().startswith(_URI_PREFIXES) and _BAD_PERCENT.search(url):
        return _PERCENT_TEXT
    return _UNPARSEABLE_TEXT


def usable_redacted_url(url: str) -> str:
    """``url`` redacted (``db url``), or a DatabaseError saying why libpq cannot read it as written (never quoting
    it): a placeholder printed with exit 0 would pass for a URL in a script."""
    if conninfo_params(url) is None:
        raise DatabaseError(f"the database URL is not usable: {_unreadable_text(url)}")
    return redact_url(url)


def database_error(exc: BaseException, url: str | None, action: str) -> DatabaseError:
    """Translate a psycopg error into a one-line DatabaseError without secrets (``exc`` is scrubbed too)."""
    unparseable = url is not None and conninfo_params(url) is None
    _scrub_chain(exc, url, unparseable)
    if unparseable:
        return DatabaseError(f"{action}: {_unreadable_text(url or '')}")
    text = " ".join(str(exc).split()) or type(exc).__name__  # scrubbed (above) before spaces are folded
    if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in text:
        text += f" ({STATEMENT_TIMEOUT_HINT})"
    where = f" ({redact_url(url)})" if url else ""
    return DatabaseError(f"{action}{where}: {text}")


#: appends the schema of the pgvector extension to the session's search_path when it is not on it: a database
#: may have it installed into its own schema (``CREATE EXTENSION vector SCHEMA extensions``), which the
#: search_path of the role or database leaves out, and goldkeeper names the type, its operators and its
#: operator classes unqualified (``vector(384)``, ``<=>``, ``vector_cosine_ops``). "On it" counts the schemas
#: searched implicitly (``current_schemas(true)``): pg_catalog named at the end would be searched last, after
#: public, where any role (before PostgreSQL 15) may define a function that then runs in place of a built-in
_VECTOR_ON_SEARCH_PATH = """
SELECT set_config('search_path', concat_ws(', ', nullif(current_setting('search_path'), ''), quote_ident(n.nspname)),
                  false)
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'vector' AND n.nspname <> ALL (current_schemas(true))
"""


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    if _misread_uri(url):  # libpq would try another host or database than meant, with part of the password
        raise DatabaseError(f"cannot connect to the database: {_MISREAD_TEXT}")
    try:
        # UTF-8 whatever the server's encoding: on a SQL_ASCII database psycopg would otherwise return names
        # and text as bytes (the server still refuses bytes that are not UTF-8, in one line)
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=15, client_encoding="UTF8")
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot connect to the database") from exc
    try:
        conn.execute(_VECTOR_ON_SEARCH_PATH)
        conn.commit()  # a session setting: kept by the transactions to come, even one rolled back
    except psycopg.Error as exc:
        conn.close()
        raise database_error(exc, url, "cannot connect to the database") from exc
    return conn


@contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection that is closed afterwards; psycopg errors inside become DatabaseError."""
    conn = connect(url, autocommit=autocommit)
    try:
        with conn:
            yield conn
    except psycopg.Error as exc:
        raise database_error(exc, url, "database error") from exc
    finally:
        conn.close()
