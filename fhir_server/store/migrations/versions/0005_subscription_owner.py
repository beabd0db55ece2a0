"""Who created each Subscription (their verified claims); must match fhir_server/subscriptions/rights.py.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_owner",
        sa.Column("subscription_id", sa.String(64), primary_key=True),
        sa.Column("claims", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription_owner")
