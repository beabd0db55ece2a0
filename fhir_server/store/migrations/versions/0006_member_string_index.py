"""Member-scoped string index (each Patient's string rows per care-team member); must match
`idx_string_member` in fhir_server/search/tables.py.

Filled by revision 0007 (which changes the string rows it copies) from `care_access` and `idx_string`, so
that an upgraded deployment's pharmacists find their patients by name at once (the search engine relies on
the table being complete).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from fhir_server.store.types import BigId

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idx_string_member",
        sa.Column("member", sa.String(140), nullable=False),
        sa.Column("hash_identity", sa.BigInteger, nullable=False),
        sa.Column("value_norm", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False),
        sa.Column("hash_exact", sa.BigInteger, nullable=False),
        sa.Column("res_pk", BigId, nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("member", "hash_identity", "value_norm", "res_pk", "hash_exact",
                                name="pk_idx_string_member"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_string_member_res", "idx_string_member", ["res_pk", "member"])


def downgrade() -> None:
    op.drop_index("ix_idx_string_member_res", "idx_string_member")
    op.drop_table("idx_string_member")
