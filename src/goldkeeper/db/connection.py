"""Connections to PostgreSQL, with passwords kept out of every message.

psycopg errors are translated here, once, into :class:`DatabaseError`. A
database URL is shown to people only through :func:`redact_url`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

from goldkeeper.errors import DatabaseError

_PASSWORD_IN_DSN = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (URL and key=value forms)."""
    if "://" not in url:
        return _PASSWORD_IN_DSN.sub(r"\1***", url)
    parts = urlsplit(url)
    if parts.password is None:
        return _PASSWORD_IN_DSN.sub(r"\1***", url)
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return _PASSWORD_IN_DSN.sub(r"\1***", urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def password_of(url: str) -> str | None:
    if "://" in url:
        try:
            return urlsplit(url).password
        except ValueError:
            return None
    match = _PASSWORD_IN_DSN.search(url)
    return match.group(2) if match else None


def scrub(message: str, url: str | None) -> str:
    """Remove the URL's password from a message that might echo it."""
    secret = password_of(url) if url else None
    if secret:
        message = message.replace(secret, "***")
    return message


def database_error(exc: BaseException, url: str | None, action: str) -> DatabaseError:
    """Translate a psycopg error into a one-line DatabaseError without secrets."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    where = f" ({redact_url(url)})" if url else ""
    return DatabaseError(scrub(f"{action}{where}: {text}", url))


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=15)
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot connect to the database") from exc


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
