"""Writes the AuditEvents of reads and refusals off the request path, in batches.

A read must not wait for its own audit record: the record is queued and a thread writes the queue in
batches (one transaction, one statement per table), within `audit_flush_seconds`. Writes are audited in
their own transaction instead (`recorder`), so a committed change never lacks its record. On shutdown
the queue is drained before the database closes.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)


class AuditWriter:
    """Events wait in a list; the writer thread is woken by the first event of a batch and by a full
    batch, not by each event (a wake per read, and the GIL hand-over it brings, cost the request path
    more than writing the record did)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._buffer: list[dict[str, Any]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        lock = threading.Lock()
        self._wake = threading.Condition(lock)  # the writer thread: a batch begins or fills, or shutdown
        self._idle = threading.Condition(lock)  # `flush` callers: every submitted event is written
        self._pending = 0

    def submit(self, event: dict[str, Any]) -> None:
        with self._wake:
            self._buffer.append(event)
            self._pending += 1
            if len(self._buffer) in (1, self._services.settings.audit_batch_size):
                self._wake.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="oncolink-audit", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted event is written (tests, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._wake:
            thread = self._thread
            self._stopping = True
            self._wake.notify()
        if thread is not None:
            thread.join(timeout=30)
        with self._wake:
            self._thread = None
            self._stopping = False

    def _run(self) -> None:
        settings = self._services.settings
        size = settings.audit_batch_size
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._buffer or self._stopping)
                # Gather the batch the first event began, for at most `audit_flush_seconds`.
                self._wake.wait_for(lambda: len(self._buffer) >= size or self._stopping, settings.audit_flush_seconds)
                batch, self._buffer = self._buffer[:size], self._buffer[size:]
                done = self._stopping and not self._buffer
            if batch:
                self._write(batch)
            if done:
                return

    def _write(self, batch: list[dict[str, Any]]) -> None:
        services = self._services
        try:
            with services.db.write() as conn:
                services.repository.create_many(conn, [("AuditEvent", e["id"], e) for e in batch])
        except Exception:  # an audit failure must be loud but must not kill the writer
            log.exception("could not write %d AuditEvents; they are lost", len(batch))
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()
