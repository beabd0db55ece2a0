"""DPI journal: every received HL7 v2 message, raw, with its outcome.

Revision ID: dpi_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "dpi_0001"
down_revision = None
branch_labels = ("dpi",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dpi_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("peer", sa.String(255), nullable=False),
        sa.Column("charset", sa.String(32), nullable=False),
        sa.Column("control_id", sa.String(199), nullable=False),
        sa.Column("message_type", sa.String(32), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ack_code", sa.String(2), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=True),
        sa.Column("unmapped", sa.JSON(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dpi_message_status", "dpi_message", ["status", "id"])
    op.create_index("ix_dpi_message_control_id", "dpi_message", ["control_id"])


def downgrade() -> None:
    op.drop_table("dpi_message")
