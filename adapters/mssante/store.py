"""The adapter's own tables: triggers taken in, the outbox of SMTP messages, the directory cache.

They sit in the server's database by default but belong to the adapter: created by its own Alembic
environment (version table `mssante_alembic_version`), never joined with the server's tables. Every
state change is a single-row (or single-statement) transaction, so a crash leaves each message in a
state the next pass knows how to continue from; the transitions that matter for at-most-once delivery
(`ready → sending`) are conditional updates, so two workers never take the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite

from adapters.storage import make_engine

VERSION_TABLE = "mssante_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"

# Outbox states. `sending` is held only while one worker talks to the relay about the message.
NEW = "new"  # recipient known, address and message not made yet
READY = "ready"  # composed; waiting for (another) delivery attempt
SENDING = "sending"
SENT = "sent"  # the relay answered 250 after the end of data
FAILED = "failed"  # permanent: no address, 5xx, too many attempts
UNKNOWN = "unknown"  # the connection died after the end of data: maybe delivered, never resent automatically
TERMINAL = (SENT, FAILED, UNKNOWN)

TRIGGER_OPEN = "open"
TRIGGER_DONE = "done"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
metadata = sa.MetaData()

trigger_table = sa.Table(
    "mssante_trigger", metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("communication_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("snapshot", sa.JSON()),
    sa.Column("fhir_status", sa.String(24)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

outbox_table = sa.Table(
    "mssante_outbox", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("trigger_key", sa.String(255), nullable=False),
    sa.Column("recipient_ref", sa.String(255), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("address", sa.String(320)),
    sa.Column("recipient_name", sa.String(255)),
    sa.Column("subject", sa.Text()),
    sa.Column("raw", sa.LargeBinary()),
    sa.Column("details", sa.JSON()),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text()),
    sa.Column("smtp_reply", sa.Text()),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("fhir_status", sa.String(24)),
    sa.Column("child_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("trigger_key", "recipient_ref", name="uq_mssante_outbox_recipient"),
)
sa.Index("ix_mssante_outbox_due", outbox_table.c.status, outbox_table.c.next_attempt_at)
sa.Index("ix_mssante_outbox_trigger", outbox_table.c.trigger_key)

directory_table = sa.Table(
    "mssante_directory_cache", metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("address", sa.String(320)),
    sa.Column("display", sa.String(255)),
    sa.Column("detail", sa.JSON()),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class OutboxRow:
    id: int
    trigger_key: str
    recipient_ref: str
    message_id: str
    status: str
    address: str | None
    recipient_name: str | None
    subject: str | None
    raw: bytes | None
    details: dict[str, Any]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    smtp_reply: str | None
    sent_at: datetime | None
    fhir_status: str | None
    child_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TriggerRow:
    key: str
    communication_id: str
    kind: str
    status: str
    snapshot: dict[str, Any] | None
    fhir_status: str | None
    created_at: datetime


@dataclass(frozen=True)
class CachedAddress:
    address: str | None
    display: str | None
    detail: dict[str, Any]
    expires_at: datetime


def _outbox(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id, trigger_key=row.trigger_key, recipient_ref=row.recipient_ref, message_id=row.message_id,
        status=row.status, address=row.address, recipient_name=row.recipient_name, subject=row.subject,
        raw=bytes(row.raw) if row.raw is not None else None, details=dict(row.details or {}), attempts=row.attempts,
        next_attempt_at=_aware(row.next_attempt_at), last_error=row.last_error, smtp_reply=row.smtp_reply,
        sent_at=_aware(row.sent_at), fhir_status=row.fhir_status, child_id=row.child_id,
        created_at=_aware(row.created_at), updated_at=_aware(row.updated_at),
    )


def _trigger(row: Any) -> TriggerRow:
    return TriggerRow(key=row.key, communication_id=row.communication_id, kind=row.kind, status=row.status,
                      snapshot=row.snapshot, fhir_status=row.fhir_status, created_at=_aware(row.created_at))


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=3)
        self.dialect = self.engine.dialect.name

    def upgrade(self) -> None:
        """Create or migrate the adapter's tables (idempotent; run at start-up)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        url = self.engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")

    def dispose(self) -> None:
        self.engine.dispose()

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table))

    # -- triggers -------------------------------------------------------------------------------

    def trigger(self, key: str) -> TriggerRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(trigger_table).where(trigger_table.c.key == key)).first()
        return _trigger(row) if row is not None else None

    def open_trigger(self, key: str, communication_id: str, kind: str, snapshot: dict[str, Any],
                     recipients: Sequence[tuple[str, str, str]]) -> int:
        """Record a trigger and one outbox row per (recipient_ref, display, message_id), each only if absent.

        Returns how many outbox rows were created (0 when a previous pass already took the trigger in)."""
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(self._insert(trigger_table).values(
                key=key, communication_id=communication_id, kind=kind, status=TRIGGER_OPEN, snapshot=snapshot,
                created_at=stamp, updated_at=stamp).on_conflict_do_nothing(index_elements=["key"]))
            created = 0
            for ref, display, message_id in recipients:
                result = conn.execute(self._insert(outbox_table).values(
                    trigger_key=key, recipient_ref=ref, recipient_name=display[:255], message_id=message_id,
                    status=NEW, attempts=0, next_attempt_at=stamp, details={}, created_at=stamp,
                    updated_at=stamp).on_conflict_do_nothing())
                created += result.rowcount or 0
        return created

    def open_triggers(self) -> list[TriggerRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(trigger_table).where(trigger_table.c.status == TRIGGER_OPEN)
                                .order_by(trigger_table.c.created_at)).all()
        return [_trigger(r) for r in rows]

    def finish_trigger(self, key: str, fhir_status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(trigger_table).where(trigger_table.c.key == key).values(
                status=TRIGGER_DONE, fhir_status=fhir_status, updated_at=now()))

    # -- outbox ---------------------------------------------------------------------------------

    def get(self, row_id: int) -> OutboxRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.id == row_id)).first()
        return _outbox(row) if row is not None else None

    def for_trigger(self, key: str) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox_table).where(outbox_table.c.trigger_key == key)
                                .order_by(outbox_table.c.id)).all()
        return [_outbox(r) for r in rows]

    def due(self, status: str, limit: int, at: datetime | None = None) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox_table).where(
                outbox_table.c.status == status, outbox_table.c.next_attempt_at <= (at or now()))
                .order_by(outbox_table.c.next_attempt_at, outbox_table.c.id).limit(limit)).all()
        return [_outbox(r) for r in rows]

    def composed(self, row_id: int, *, address: str, recipient_name: str, subject: str, raw: bytes,
                 details: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(outbox_table).where(outbox_table.c.id == row_id, outbox_table.c.status == NEW)
                         .values(status=READY, address=address, recipient_name=recipient_name[:255],
                                 subject=subject, raw=raw, details=details, last_error=None, updated_at=now()))

    def claim(self, worker: str, limit: int, at: datetime | None = None) -> list[OutboxRow]:
        """Take up to `limit` due messages for sending. The conditional update is the guard: a message
        another worker took in between is simply not ours."""
        stamp = at or now()
        with self.engine.begin() as conn:
            ids = conn.execute(sa.select(outbox_table.c.id).where(
                outbox_table.c.status == READY, outbox_table.c.next_attempt_at <= stamp)
                .order_by(outbox_table.c.next_attempt_at, outbox_table.c.id).limit(limit)).scalars().all()
            if not ids:
                return []
            conn.execute(sa.update(outbox_table).where(outbox_table.c.id.in_(ids), outbox_table.c.status == READY)
                         .values(status=SENDING, claimed_by=worker, claimed_at=stamp, updated_at=stamp))
            rows = conn.execute(sa.select(outbox_table).where(
                outbox_table.c.id.in_(ids), outbox_table.c.status == SENDING, outbox_table.c.claimed_by == worker,
                outbox_table.c.claimed_at == stamp).order_by(outbox_table.c.id)).all()
        return [_outbox(r) for r in rows]

    def _finish(self, row_id: int, values: dict[str, Any], from_status: Iterable[str] = (SENDING,)) -> bool:
        values = {**values, "updated_at": now(), "claimed_by": None, "claimed_at": None}
        with self.engine.begin() as conn:
            result = conn.execute(sa.update(outbox_table).where(
                outbox_table.c.id == row_id, outbox_table.c.status.in_(list(from_status))).values(**values))
        return bool(result.rowcount)

    def sent(self, row_id: int, reply: str) -> bool:
        return self._finish(row_id, {"status": SENT, "smtp_reply": reply[:2000], "sent_at": now(),
                                     "attempts": outbox_table.c.attempts + 1, "last_error": None})

    def retry(self, row_id: int, error: str, next_at: datetime, *, attempted: bool = True,
              from_status: Iterable[str] = (SENDING,), reply: str | None = None) -> bool:
        """Back to the queue: `attempted` counts the try (the relay saw the message or refused us);
        a message left untouched because the connection died before its turn is not charged."""
        values: dict[str, Any] = {"status": READY if SENDING in from_status else NEW, "last_error": error[:2000],
                                  "next_attempt_at": next_at}
        if attempted:
            values["attempts"] = outbox_table.c.attempts + 1
        if reply is not None:
            values["smtp_reply"] = reply[:2000]
        return self._finish(row_id, values, from_status)

    def failed(self, row_id: int, error: str, *, from_status: Iterable[str] = (SENDING,),
               reply: str | None = None, attempted: bool = True) -> bool:
        values: dict[str, Any] = {"status": FAILED, "last_error": error[:2000]}
        if attempted:
            values["attempts"] = outbox_table.c.attempts + 1
        if reply is not None:
            values["smtp_reply"] = reply[:2000]
        return self._finish(row_id, values, from_status)

    def unknown(self, row_id: int, error: str, *, from_status: Iterable[str] = (SENDING,)) -> bool:
        return self._finish(row_id, {"status": UNKNOWN, "last_error": error[:2000],
                                     "attempts": outbox_table.c.attempts + 1}, from_status)

    def expire_sending(self, lease: timedelta) -> list[int]:
        """Messages a dead worker left in `sending`: we cannot know whether the relay took them."""
        limit = now() - lease
        with self.engine.begin() as conn:
            ids = conn.execute(sa.select(outbox_table.c.id).where(
                outbox_table.c.status == SENDING, outbox_table.c.claimed_at < limit)).scalars().all()
            if ids:
                conn.execute(sa.update(outbox_table).where(outbox_table.c.id.in_(ids),
                                                           outbox_table.c.status == SENDING)
                             .values(status=UNKNOWN, claimed_by=None, claimed_at=None, updated_at=now(),
                                     last_error="envoi interrompu (arrêt du processus pendant la session SMTP) : "
                                                "remise incertaine, à vérifier avant tout renvoi"))
        return list(ids)

    def requeue(self, row_id: int) -> bool:
        """Manual retry (`oncolink mssante retry`): the same Message-ID goes out again."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(outbox_table.c.status, outbox_table.c.raw)
                               .where(outbox_table.c.id == row_id)).first()
            if row is None or row.status not in (FAILED, UNKNOWN):
                return False
            conn.execute(sa.update(outbox_table).where(outbox_table.c.id == row_id).values(
                status=READY if row.raw is not None else NEW, next_attempt_at=now(), attempts=0, updated_at=now()))
            conn.execute(sa.update(trigger_table).where(trigger_table.c.key == sa.select(
                outbox_table.c.trigger_key).where(outbox_table.c.id == row_id).scalar_subquery())
                .values(status=TRIGGER_OPEN, updated_at=now()))
        return True

    def unsynced(self, limit: int = 500) -> list[OutboxRow]:
        """Messages whose state the FHIR Communication does not show yet."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox_table).where(
                outbox_table.c.status.in_([READY, *TERMINAL]),
                sa.or_(outbox_table.c.fhir_status.is_(None), outbox_table.c.fhir_status != outbox_table.c.status))
                .order_by(outbox_table.c.id).limit(limit)).all()
        return [_outbox(r) for r in rows]

    def synced(self, row_id: int, status: str, child_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(outbox_table).where(outbox_table.c.id == row_id)
                         .values(fhir_status=status, child_id=child_id))

    def recent(self, limit: int, status: str | None = None) -> list[OutboxRow]:
        query = sa.select(outbox_table).order_by(outbox_table.c.id.desc()).limit(limit)
        if status:
            query = query.where(outbox_table.c.status == status)
        with self.engine.connect() as conn:
            return [_outbox(r) for r in conn.execute(query).all()]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox_table.c.status, sa.func.count())
                                .group_by(outbox_table.c.status)).all()
        return {status: int(count) for status, count in rows}

    # -- directory cache ------------------------------------------------------------------------

    def cached(self, key: str) -> CachedAddress | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(directory_table).where(directory_table.c.key == key)).first()
        if row is None:
            return None
        expires = _aware(row.expires_at)
        if expires is None or expires <= now():
            return None
        return CachedAddress(row.address, row.display, dict(row.detail or {}), expires)

    def cache(self, key: str, address: str | None, display: str | None, detail: dict[str, Any],
              ttl: timedelta) -> None:
        stamp = now()
        values = {"address": address, "display": (display or "")[:255] or None, "detail": detail,
                  "fetched_at": stamp, "expires_at": stamp + ttl}
        with self.engine.begin() as conn:
            conn.execute(self._insert(directory_table).values(key=key, **values)
                         .on_conflict_do_update(index_elements=["key"], set_=values))
