"""SQL a test runs on the session's embedded server as its superuser (roles, grants, extensions)."""

from __future__ import annotations

import psycopg


def run_sql(url: str, *statements: str) -> None:
    """Run ``statements`` in order, each committed on its own (autocommit)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
