"""Writes the AuditEvents of reads and refusals off the request path, in batches.

A read must not wait for its own audit record: the record is queued and a thread writes the queue in
batches (one transaction, one statement per table), within `audit_flush_seconds`. Writes are audited in
their own transaction instead (`recorder`), so a committed change never lacks its record. On shutdown
the queue is drained before the database closes.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)
_STOP = object()


class AuditWriter:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0

    def submit(self, event: dict[str, Any]) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(event)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="oncolink-audit", daemon=True)
                    self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted event is written (tests, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        settings = self._services.settings
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            try:
                while len(batch) < settings.audit_batch_size:
                    item = self._queue.get(timeout=settings.audit_flush_seconds)
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
            except queue.Empty:
                pass
            self._write(batch)
            if stop:
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
