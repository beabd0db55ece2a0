"""Resource and version tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from fhir_server.store.types import BigId, Document, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", UtcDateTime, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", Document, nullable=True),
        sa.UniqueConstraint("res_type", "res_id", name="uq_resource_type_id"),
    )
    op.create_index("ix_resource_type_updated", "resource", ["res_type", "last_updated"])
    op.create_table(
        "resource_version",
        sa.Column("res_pk", BigId, sa.ForeignKey("resource.pk"), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("last_updated", UtcDateTime, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", Document, nullable=True),
    )
    op.create_index("ix_version_type_updated", "resource_version", ["res_type", "last_updated"])
    op.create_index("ix_version_updated", "resource_version", ["last_updated"])


def downgrade() -> None:
    op.drop_table("resource_version")
    op.drop_table("resource")
