"""Engine construction and transaction scopes.

SQLite needs care to behave like a server database under concurrent writers: WAL so readers never
block, and `BEGIN IMMEDIATE` for write transactions so two writers queue on the lock instead of
deadlocking when a deferred read lock is upgraded. PostgreSQL gets a pool and plain transactions;
row locks (`SELECT … FOR UPDATE`) serialise writers of one resource there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


PreCommitHook = Callable[[Connection], None]

# How long a SQLite writer waits for the write lock before the database refuses ("database is locked").
SQLITE_BUSY_SECONDS = 60
# SQLite: WAL pages after which a commit checkpoints, unless the settings say otherwise (the default of
# `ONCOLINK_SQLITE_WAL_AUTOCHECKPOINT`; why 10,000 rather than SQLite's 1,000: `Settings`).
SQLITE_WAL_AUTOCHECKPOINT = 10_000


def _plan_each_execution(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """The driver prepares a statement run five times on a connection, and PostgreSQL then switches to a
    generic plan when it looks no costlier. Index lookups are by hashes whose selectivity the generic
    plan cannot know: for a page deep into `code=system|code` it chose a plan reading every match
    (440 ms instead of 1.3 ms, 2026-12-07). Planning each execution costs a fraction of a millisecond."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()
    dbapi_connection.commit()


class Database:
    """One database: an engine plus read and write transaction scopes."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False,
                 sqlite_wal_autocheckpoint: int = SQLITE_WAL_AUTOCHECKPOINT) -> None:
        self.url = make_url(url)
        # Run in order at the end of every successful write scope, inside its transaction: what they
        # write (outbox rows, reactions of the pathway engine, audit) commits or rolls back with it.
        self.before_commit: list[PreCommitHook] = []
        self.dialect = self.url.get_backend_name()
        # SQLite has one writer at a time. Writers of this process queue on this lock rather than on the
        # database's: a waiter blocked in BEGIN IMMEDIATE polls with growing sleeps (up to 100 ms in
        # SQLite's busy handler) and wakes up late, whereas the lock hands over as soon as the previous
        # write scope ends. Reentrant, so a nested write scope behaves as it did without it; a writer that
        # waits longer than the busy timeout goes on to meet SQLite's own refusal, as before; writers in
        # other processes still meet the busy timeout.
        self._writers = threading.RLock() if self.dialect == "sqlite" else None
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(url, echo, sqlite_wal_autocheckpoint)
        else:
            self.engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                # As for SQLite (the worklist's p95 here: 275 ms before, 272 and 238 ms in two runs after);
                # and the connections a burst opened beyond the need stay idle, for idle timeouts to close.
                pool_use_lifo=True,
                echo=echo,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
            )
            event.listen(self.engine, "connect", _plan_each_execution)

    @staticmethod
    def _sqlite_engine(url: str, echo: bool, wal_autocheckpoint: int) -> Engine:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
            # The most recently used connection first: each connection has its own page cache, and a
            # first-in-first-out pool handed the worklist's page, after a load of writes, to every
            # connection that load had opened in turn, each with a cold cache (p95 275–310 ms against
            # 249 ms, 500-patient team, 2026-12-08). Idle connections stay idle.
            pool_use_lifo=True,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's "begin" event, not the driver, decide how transactions start.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            # Index maintenance touches many B-tree pages per write: keep them in memory (64 MiB cache,
            # 128 MiB memory-mapped reads) rather than re-reading them through the VFS.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=134217728")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write: committed on success, rolled back on any exception."""
        queued = self._writers is not None and self._writers.acquire(timeout=SQLITE_BUSY_SECONDS)
        try:
            with self.engine.connect().execution_options(write=True) as conn, conn.begin():
                yield conn
                for hook in self.before_commit:
                    hook(conn)
        finally:
            if queued:
                assert self._writers is not None
                self._writers.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
