"""Subscription delivery queue; must match fhir_server/subscriptions/tables.py.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from fhir_server.store.types import BigId, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_delivery",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_subscription_delivery_due", "subscription_delivery", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_subscription_delivery_due", "subscription_delivery")
    op.drop_table("subscription_delivery")
