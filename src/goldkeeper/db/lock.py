"""The golden advisory lock: one writer of the golden schema at a time, and never a silent wait.

Every writer (restore, import, ``db init``) takes a transaction-level advisory
lock. When another session holds it, :func:`lock_golden` says so (a warning on
the ``goldkeeper`` logger, which the CLI prints: who holds it, since when, how
long it will wait), waits at most ``timeout_s`` seconds (params
``restore.lock_timeout_seconds``) and then gives up with a
:class:`~goldkeeper.errors.DatabaseError` (exit 4) naming the holder.

A holder that was killed (SIGKILL, a lost terminal) must not keep the lock:
the lock's transaction sets ``client_connection_check_interval`` (PostgreSQL
>= 14), so its backend notices the vanished client within a second even in the
middle of a long statement, rolls back and releases the lock. It also tags the
session's ``application_name`` with the client's PID, so a waiter can say
"held by goldkeeper PID N, which is gone".
"""

from __future__ import annotations

import logging
import os
from typing import Any

import psycopg

from goldkeeper.errors import DatabaseError
from goldkeeper.programs import process_alive

#: Key of the transaction-level advisory lock every writer of the golden schema takes.
ADVISORY_LOCK_KEY = 0x60_1D_4E_E9  # "goldkeeper" in spirit; any fixed bigint works
#: How often (ms) the backend of a lock holder checks that its client is still there.
CLIENT_CHECK_INTERVAL_MS = 1000
_APP_PREFIX = "goldkeeper pid="

log = logging.getLogger("goldkeeper")

_HOLDER = """
SELECT a.pid, a.application_name, a.state, a.client_addr IS NULL AS local,
       extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::int AS seconds
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid()
  AND ((l.classid::bigint << 32) | l.objid::bigint) = %s
LIMIT 1
"""


def lock_golden(conn: psycopg.Connection[Any], timeout_s: float | None = None) -> None:
    """Take the golden advisory lock until the end of the current transaction.

    ``timeout_s``: how long to wait for another writer (None: as long as it takes). Waiting is
    reported on the ``goldkeeper`` logger; a timeout is a DatabaseError naming the holder.
    """
    acquired = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
    if acquired != (True,):
        _wait_for_lock(conn, timeout_s)
    conn.execute("SELECT set_config('application_name', %s, true)", (f"{_APP_PREFIX}{os.getpid()}",))
    if conn.info.server_version >= 140000:
        conn.execute(
            "SELECT set_config('client_connection_check_interval', %s, true)", (str(CLIENT_CHECK_INTERVAL_MS),)
        )


def _wait_for_lock(conn: psycopg.Connection[Any], timeout_s: float | None) -> None:
    holder = describe_holder(conn)
    how_long = "as long as it takes" if timeout_s is None else f"up to {timeout_s:g} s"
    log.warning(
        "waiting for the golden lock (another writer of the golden schema holds it: %s); waiting %s "
        "(params.yaml restore.lock_timeout_seconds)",
        holder,
        how_long,
    )
    previous = conn.execute("SELECT current_setting('lock_timeout')").fetchone()
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int((timeout_s or 0) * 1000)}ms",))
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
    except psycopg.errors.LockNotAvailable as exc:
        raise DatabaseError(
            f"gave up after {timeout_s:g} s waiting for the golden lock held by {holder}; nothing was changed "
            "(retry when it is done, or raise restore.lock_timeout_seconds in params.yaml)",
            holder=holder,
        ) from exc
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (previous[0] if previous else "0",))


def describe_holder(conn: psycopg.Connection[Any]) -> str:
    """Who holds the golden lock, in words (its backend, state, age; the goldkeeper client PID if tagged)."""
    row = conn.execute(_HOLDER, (ADVISORY_LOCK_KEY,)).fetchone()
    if row is None:
        return "a session that is already gone"
    pid, app, state, local, seconds = row
    words = f"database backend PID {pid} ({state or 'state unknown'}, for {seconds} s"
    if isinstance(app, str) and app.startswith(_APP_PREFIX):
        client = app.removeprefix(_APP_PREFIX)
        gone = local and client.isdigit() and not process_alive(int(client))
        words += f", goldkeeper PID {client}" + (", which is gone" if gone else "")
    elif app:
        words += f", application {app!r}"
    return words + ")"


__all__ = ["ADVISORY_LOCK_KEY", "CLIENT_CHECK_INTERVAL_MS", "lock_golden", "describe_holder"]
