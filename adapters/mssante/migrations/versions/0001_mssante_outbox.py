"""MSSanté adapter: triggers taken in, outbox of SMTP messages, directory cache.

Revision ID: mssante_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "mssante_0001"
down_revision = None
branch_labels = ("mssante",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mssante_trigger",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("communication_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("fhir_status", sa.String(24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mssante_trigger_status", "mssante_trigger", ["status", "created_at"])
    op.create_table(
        "mssante_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("trigger_key", sa.String(255), nullable=False),
        sa.Column("recipient_ref", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("recipient_name", sa.String(255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("smtp_reply", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fhir_status", sa.String(24), nullable=True),
        sa.Column("child_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", name="uq_mssante_outbox_message_id"),
        sa.UniqueConstraint("trigger_key", "recipient_ref", name="uq_mssante_outbox_recipient"),
    )
    op.create_index("ix_mssante_outbox_due", "mssante_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_mssante_outbox_trigger", "mssante_outbox", ["trigger_key"])
    op.create_table(
        "mssante_directory_cache",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("display", sa.String(255), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mssante_directory_cache")
    op.drop_table("mssante_outbox")
    op.drop_table("mssante_trigger")
