"""What a SIGKILLed command leaves behind is noticed: an orphaned embedded server, a held golden lock.

Real processes, real SIGKILL, the real embedded PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from golden_support import make_records
from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.db.loader import golden_transaction
from goldkeeper.db.lock import ADVISORY_LOCK_KEY, lock_golden
from goldkeeper.errors import DatabaseError
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")


def spawn(script: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A Python child running ``script``; returns once it printed its first line (``ready``)."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        raise AssertionError(f"child did not get ready: {line!r} {child.stderr.read() if child.stderr else ''}")
    return child


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


# --------------------------------------------------------------------------- an orphaned embedded server


@pytest.fixture
def own_home() -> Iterator[Path]:
    """A GOLDKEEPER_HOME of this test alone (traversable: as root, postgres runs as `pgserver`)."""
    home = Path(tempfile.mkdtemp(prefix="goldkeeper-orphan-"))
    home.chmod(0o755)
    try:
        yield home
    finally:
        EmbeddedServer(home).stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_a_server_left_by_a_killed_command_is_reported_and_stopped(own_home, project):
    env = {"GOLDKEEPER_HOME": str(own_home)}
    child = spawn(
        f"""
        import time
        from goldkeeper.project import Project
        with Project.load({str(project)!r}).database():
            print("ready", flush=True)
            time.sleep(300)
        """,
        env,
    )
    server = EmbeddedServer(own_home)
    assert server.status().running and server.status().orphaned_by is None  # its owner is alive
    kill(child)
    status = server.status()
    assert status.running and status.orphaned_by == child.pid  # before: up forever, reused, never stopped

    run = subprocess.run(
        [GOLDKEEPER, "db", "status"], cwd=project, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert f"started by goldkeeper PID {child.pid}, which is gone" in run.stdout

    run = subprocess.run(
        [GOLDKEEPER, "db", "init"], cwd=project, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert (
        f"warning: embedded server started by PID {child.pid} which is gone (killed?); reusing it and stopping it "
        "when done" in run.stderr
    )
    assert not server.status().running  # adopted, then stopped like a server the command started itself
    assert not (own_home / "server-owner.json").exists()


USER_OF_THE_DATABASE = """
import sys
from goldkeeper.db.embedded import database_url_for
from goldkeeper.project import Project
project = Project.load({root!r})
with project.database():
    with database_url_for(None, project.settings.home_path):  # nested, as the retrieval eval does
        pass
    print("ready", flush=True)
    sys.stdin.readline()
"""


def finish(child: subprocess.Popen[str]) -> None:
    """Let a USER_OF_THE_DATABASE child leave its database block and exit."""
    assert child.stdin is not None
    child.stdin.write("done\n")
    child.stdin.flush()
    assert child.wait(timeout=120) == 0


@pytest.mark.slow
def test_the_last_of_two_commands_stops_the_server_it_started(own_home, project):
    """The command that started the server does not stop it under another one that is still using it."""
    env = {"GOLDKEEPER_HOME": str(own_home)}
    first = spawn(USER_OF_THE_DATABASE.format(root=str(project)), env)
    second = spawn(USER_OF_THE_DATABASE.format(root=str(project)), env)
    server = EmbeddedServer(own_home)
    finish(first)
    assert server.status().running  # before: stopped under the second command
    with psycopg.connect(server.url() or "", connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    finish(second)
    assert not server.status().running and not (own_home / "server-owner.json").exists()


@pytest.mark.slow
def test_db_start_keeps_the_server_for_the_user(own_home, project):
    env = {**os.environ, "GOLDKEEPER_HOME": str(own_home)}
    child = spawn(
        f"""
        import time
        from goldkeeper.project import Project
        with Project.load({str(project)!r}).database():
            print("ready", flush=True)
            time.sleep(300)
        """,
        env,
    )
    kill(child)
    run = subprocess.run([GOLDKEEPER, "db", "start"], cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "already running" in run.stdout
    run = subprocess.run([GOLDKEEPER, "db", "init"], cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "warning" not in run.stderr, run.stderr
    assert EmbeddedServer(own_home).status().running  # the user's server: only `db stop` stops it


# --------------------------------------------------------------------------- the golden lock


def test_a_killed_lock_holder_releases_the_lock_within_seconds(database_url):
    """The holder's backend is busy (pg_sleep) when its client is SIGKILLed: it notices and lets go."""
    child = spawn(
        f"""
        from goldkeeper.db.loader import golden_transaction
        from goldkeeper.db.lock import lock_golden
        with golden_transaction({database_url!r}) as conn:
            lock_golden(conn)
            print("ready", flush=True)
            conn.execute("SELECT pg_sleep(300)")
        """
    )
    time.sleep(0.5)  # the backend is inside pg_sleep now
    kill(child)
    started = time.monotonic()
    with golden_transaction(database_url) as conn:
        lock_golden(conn, timeout_s=30)
    assert time.monotonic() - started < 10  # before: held until pg_sleep(300) ended


def wait_until_sleeping(database_url: str, pid: int) -> None:
    """Until the backend of goldkeeper-like process ``pid`` runs its pg_sleep (it prints "ready" just before)."""
    deadline = time.monotonic() + 20
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = 'active' "
                "AND query LIKE 'SELECT pg_sleep%%'",
                (f"goldkeeper pid={pid}",),
            ).fetchone()
            if row:
                return
            time.sleep(0.05)
    raise AssertionError(f"the lock holder {pid} never reached pg_sleep")


def test_a_held_lock_is_reported_and_given_up_after_the_timeout(database_url, project):
    """An old-style holder (no client check) killed mid-statement keeps the lock: restore says so, then gives up."""
    child = spawn(
        f"""
        import os, psycopg
        conn = psycopg.connect({database_url!r}, autocommit=False)
        conn.execute("SELECT set_config('application_name', %s, false)", (f"goldkeeper pid={{os.getpid()}}",))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", ({ADVISORY_LOCK_KEY},))
        print("ready", flush=True)
        conn.execute("SELECT pg_sleep(300)")
        """
    )
    wait_until_sleeping(database_url, child.pid)  # killed before pg_sleep reached the server, it would let go
    kill(child)
    analyses, queries = make_records(2)
    write_store(project / "golden", "t", analyses, queries, {"analyses": 2, "queries": 2})
    (project / "params.yaml").write_text("restore:\n  lock_timeout_seconds: 2\n")
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url}
    try:
        started = time.monotonic()
        run = subprocess.run([GOLDKEEPER, "restore"], cwd=project, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        assert run.returncode == 4, run.stderr
        warning, error = run.stderr.splitlines()
        assert warning.startswith("warning: waiting for the golden lock") and "waiting up to 2 s" in warning
        assert f"goldkeeper PID {child.pid}, which is gone" in warning
        assert error.startswith("error: gave up after 2 s waiting for the golden lock held by database backend PID")
        assert elapsed < 60
        run = subprocess.run([GOLDKEEPER, "db", "init"], cwd=project, env=env, capture_output=True, text=True)
        assert run.returncode == 4 and "error: gave up after 2 s waiting for the golden lock" in run.stderr
        with pytest.raises(DatabaseError, match="gave up after 0.5 s"), golden_transaction(database_url) as conn:
            lock_golden(conn, timeout_s=0.5)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
                (ADVISORY_LOCK_KEY & 0xFFFFFFFF,),
            )
