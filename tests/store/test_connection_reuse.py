"""After a burst of concurrent requests, the next requests run on the connection used last, whose caches
are warm (SQLite's page cache is per connection), not on each connection the burst opened in turn."""

from __future__ import annotations

from contextlib import ExitStack

from fhir_server.store.database import Database


def _driver_connection(db: Database) -> int:
    with db.read() as conn:
        return id(conn.connection.dbapi_connection)


def test_sequential_reads_after_a_burst_reuse_the_last_connection(db: Database) -> None:
    with ExitStack() as burst:  # three requests at once: the pool now holds three connections
        opened = {id(burst.enter_context(db.read()).connection.dbapi_connection) for _ in range(3)}
    assert len(opened) == 3
    used = [_driver_connection(db) for _ in range(6)]
    assert used[0] in opened
    assert set(used) == {used[0]}
