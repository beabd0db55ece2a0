"""The message journal: every received message stored raw before it is processed, then its outcome.

Messages that were not accepted (AE, AR, or the server failing) stay in a dead-letter state with the
reason, and `oncolink hl7 replay` runs them again from the raw bytes. The tables belong to the adapter
and are created by its own Alembic environment (version table `dpi_alembic_version`), in the server's
database by default, without touching the server's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from adapters.storage import make_engine

VERSION_TABLE = "dpi_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"

RECEIVED = "received"
ACCEPTED = "accepted"
ERROR = "error"  # AE: the content must be fixed by the sender (or a mapping), then replayed
REJECTED = "rejected"  # AR: type, version or framing we do not take
FAILED = "failed"  # the server failed or was unreachable: replay as is
DEAD = (ERROR, REJECTED, FAILED)

metadata = sa.MetaData()
message_table = sa.Table(
    "dpi_message", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("transport", sa.String(16), nullable=False),
    sa.Column("peer", sa.String(255), nullable=False),
    sa.Column("charset", sa.String(32), nullable=False),
    sa.Column("control_id", sa.String(199), nullable=False),
    sa.Column("message_type", sa.String(32), nullable=False),
    sa.Column("raw", sa.LargeBinary(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ack_code", sa.String(2)),
    sa.Column("error", sa.Text()),
    sa.Column("resources", sa.JSON()),
    sa.Column("unmapped", sa.JSON()),
    sa.Column("summary", sa.Text()),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("processed_at", sa.DateTime(timezone=True)),
)


# Prebuilt statements: a group of messages is journaled with one INSERT and finished with one UPDATE
# (executemany), and building a Core statement costs more than its SQL.
_INSERT = sa.insert(message_table).returning(message_table.c.id, sort_by_parameter_order=True)
_m = message_table.c
_FINISH = sa.update(message_table).where(_m.id == sa.bindparam("entry_id")).values(
    attempts=_m.attempts + 1,
    # Left as they are unless given (a replay or a salvaged header corrects them).
    control_id=sa.func.coalesce(sa.bindparam("new_control_id", type_=sa.String()), _m.control_id),
    message_type=sa.func.coalesce(sa.bindparam("new_message_type", type_=sa.String()), _m.message_type),
    charset=sa.func.coalesce(sa.bindparam("new_charset", type_=sa.String()), _m.charset),
)


@dataclass(frozen=True)
class Received:
    """A message as it arrived, before anything is done with it."""

    raw: bytes
    transport: str
    peer: str
    charset: str
    control_id: str
    message_type: str


@dataclass(frozen=True)
class Finished:
    """What became of a journaled message (None leaves control id, type and charset as received)."""

    entry_id: int
    status: str
    ack_code: str
    error: str | None = None
    resources: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    summary: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    charset: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    id: int
    received_at: datetime
    transport: str
    peer: str
    charset: str
    control_id: str
    message_type: str
    raw: bytes
    status: str
    ack_code: str | None
    error: str | None
    resources: list[str]
    unmapped: list[str]
    summary: str | None
    attempts: int
    processed_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


class Journal:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=5)

    def upgrade(self) -> None:
        """Create or migrate the journal tables (idempotent; run at start-up)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        url = self.engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")

    def dispose(self) -> None:
        self.engine.dispose()

    def received(self, raw: bytes, *, transport: str, peer: str, charset: str, control_id: str,
                 message_type: str) -> int:
        return self.received_many([Received(raw, transport, peer, charset, control_id, message_type)])[0]

    def received_many(self, messages: Sequence[Received]) -> list[int]:
        """Store messages raw in one transaction; their ids, in order."""
        now = _now()
        rows = [{"received_at": now, "transport": m.transport, "peer": m.peer[:255], "charset": m.charset[:32],
                 "control_id": m.control_id[:199], "message_type": m.message_type[:32], "raw": m.raw,
                 "status": RECEIVED, "attempts": 0} for m in messages]
        with self.engine.begin() as conn:
            return [int(i) for i in conn.execute(_INSERT, _one_or_many(rows)).scalars().all()]

    def finish(self, entry_id: int, *, status: str, ack_code: str, error: str | None = None,
               resources: list[str] | None = None, unmapped: list[str] | None = None, summary: str | None = None,
               control_id: str | None = None, message_type: str | None = None, charset: str | None = None) -> None:
        self.finish_many([Finished(entry_id, status, ack_code, error, resources or [], unmapped or [], summary,
                                   control_id, message_type, charset)])

    def finish_many(self, outcomes: Sequence[Finished]) -> None:
        """Record the outcomes of journaled messages in one transaction."""
        now = _now()
        rows = []
        for o in outcomes:
            row: dict[str, Any] = {
                "entry_id": o.entry_id, "status": o.status, "ack_code": o.ack_code, "error": o.error,
                "resources": o.resources, "unmapped": o.unmapped, "summary": o.summary, "processed_at": now,
            }
            for key, value in (("control_id", o.control_id), ("message_type", o.message_type),
                               ("charset", o.charset)):
                row[f"new_{key}"] = value[:199] if value is not None else None
            rows.append(row)
        with self.engine.begin() as conn:
            conn.execute(_FINISH, _one_or_many(rows))

    def get(self, entry_id: int) -> JournalEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(message_table).where(message_table.c.id == entry_id)).first()
        return _entry(row) if row is not None else None

    def recent(self, limit: int = 50, status: str | None = None) -> list[JournalEntry]:
        query = sa.select(message_table).order_by(message_table.c.id.desc()).limit(limit)
        if status == "dead":
            query = query.where(message_table.c.status.in_(DEAD))
        elif status:
            query = query.where(message_table.c.status == status)
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def dead_ids(self, limit: int = 10_000) -> list[int]:
        """Dead-lettered messages, oldest first (replay keeps the original order per patient)."""
        query = (sa.select(message_table.c.id).where(message_table.c.status.in_(DEAD))
                 .order_by(message_table.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(query)]

    def count(self, status: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(message_table)
        if status:
            query = query.where(message_table.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _one_or_many(rows: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """A lone message (a lone sender's) as a single execution: executemany costs more for one row."""
    return rows[0] if len(rows) == 1 else rows


def _entry(row: sa.Row[Any]) -> JournalEntry:
    m = row._mapping
    received_at = m["received_at"]
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    return JournalEntry(
        id=int(m["id"]), received_at=received_at, transport=m["transport"], peer=m["peer"], charset=m["charset"],
        control_id=m["control_id"], message_type=m["message_type"], raw=bytes(m["raw"]), status=m["status"],
        ack_code=m["ack_code"], error=m["error"], resources=list(m["resources"] or []),
        unmapped=list(m["unmapped"] or []), summary=m["summary"], attempts=int(m["attempts"]),
        processed_at=m["processed_at"],
    )
