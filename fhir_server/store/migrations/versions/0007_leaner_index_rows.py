"""Leaner index rows: no `param`/`res_type` text columns, one value index on `idx_token` instead of two;
must match fhir_server/search/tables.py.

The rows' hashes are unchanged, so no row is rewritten: only the columns nothing reads and the second
randomly keyed token index go (see docs/adr/0017-index-write-cost.md).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("idx_token", "idx_string", "idx_date", "idx_number", "idx_quantity", "idx_uri", "idx_reference")


def upgrade() -> None:
    op.drop_index("ix_idx_token_sys_value", "idx_token")
    op.drop_index("ix_idx_token_value", "idx_token")
    op.create_index("ix_idx_token_value_sys", "idx_token", ["hash_value", "hash_sys", "res_pk"])
    for table in _TABLES:
        op.drop_column(table, "param")
        op.drop_column(table, "res_type")


def downgrade() -> None:
    """The old columns come back empty: their text was never read, and a reindex would refill it."""
    for table in _TABLES:
        op.add_column(table, sa.Column("res_type", sa.String(64), nullable=False, server_default=""))
        op.add_column(table, sa.Column("param", sa.Text, nullable=False, server_default=""))
    op.drop_index("ix_idx_token_value_sys", "idx_token")
    op.create_index("ix_idx_token_value", "idx_token", ["hash_value", "res_pk"])
    op.create_index("ix_idx_token_sys_value", "idx_token", ["hash_sys_value", "res_pk"])
