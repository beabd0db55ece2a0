"""The delivery queue: one row per (Subscription, resource version) to notify, written in the same
transaction as the version (a transactional outbox), so a committed change is never missed and a
rolled-back one is never announced."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from ..store.tables import metadata
from ..store.types import BigId, UtcDateTime

subscription_delivery = Table(
    "subscription_delivery",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # pending → delivered | failed; a pending row is due at `next_attempt_at`.
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_subscription_delivery_due", "state", "next_attempt_at"),
)
