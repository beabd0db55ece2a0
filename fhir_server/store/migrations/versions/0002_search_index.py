"""Search index tables (one per parameter type); must match fhir_server/search/tables.py.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from fhir_server.store.types import BigId

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SortableText = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _common() -> list[sa.Column]:
    return [
        sa.Column("res_pk", BigId, nullable=False, autoincrement=False),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("param", sa.Text, nullable=False),
        sa.Column("hash_identity", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "idx_token",
        *_common(),
        sa.Column("hash_value", sa.BigInteger, nullable=False),
        sa.Column("hash_sys", sa.BigInteger, nullable=False),
        sa.Column("hash_sys_value", sa.BigInteger, nullable=False),
        sa.Column("system", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("text", SortableText, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "hash_sys_value", "text", name="pk_idx_token"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_token_sys_value", "idx_token", ["hash_sys_value", "res_pk"])
    op.create_index("ix_idx_token_value", "idx_token", ["hash_value", "res_pk"])
    op.create_index("ix_idx_token_sys", "idx_token", ["hash_sys", "res_pk"])

    op.create_table(
        "idx_string",
        *_common(),
        sa.Column("hash_exact", sa.BigInteger, nullable=False),
        sa.Column("value_norm", SortableText, nullable=False),
        sa.Column("value_exact", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "hash_exact", name="pk_idx_string"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_string_norm", "idx_string", ["hash_identity", "value_norm", "res_pk"])

    op.create_table(
        "idx_date",
        *_common(),
        sa.Column("low", sa.BigInteger, nullable=False),
        sa.Column("high", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "low", "high", name="pk_idx_date"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_date_low", "idx_date", ["hash_identity", "low", "res_pk"])
    op.create_index("ix_idx_date_high", "idx_date", ["hash_identity", "high", "res_pk"])

    op.create_table(
        "idx_number",
        *_common(),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "low", "high", name="pk_idx_number"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_number_low", "idx_number", ["hash_identity", "low", "res_pk"])

    op.create_table(
        "idx_quantity",
        *_common(),
        sa.Column("hash_units", sa.BigInteger, nullable=False),
        sa.Column("system", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "hash_units", "unit", "low", "high",
                                name="pk_idx_quantity"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_quantity_low", "idx_quantity", ["hash_identity", "low", "res_pk"])
    op.create_index("ix_idx_quantity_units", "idx_quantity", ["hash_units", "low", "res_pk"])

    op.create_table(
        "idx_uri",
        *_common(),
        sa.Column("hash_uri", sa.BigInteger, nullable=False),
        sa.Column("uri", SortableText, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "hash_uri", name="pk_idx_uri"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_idx_uri_hash", "idx_uri", ["hash_uri", "res_pk"])
    op.create_index("ix_idx_uri_identity", "idx_uri", ["hash_identity", "uri"])

    op.create_table(
        "idx_reference",
        *_common(),
        sa.Column("target_type", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("target_url", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("res_pk", "hash_identity", "target_type", "target_id", "target_url",
                                name="pk_idx_reference"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_idx_reference_target", "idx_reference", ["target_id", "target_type", "hash_identity", "res_pk"]
    )
    op.create_index(
        "ix_idx_reference_url",
        "idx_reference",
        ["target_url", "hash_identity"],
        sqlite_where=sa.text("target_url <> ''"),
        postgresql_where=sa.text("target_url <> ''"),
    )


def downgrade() -> None:
    for name in ("idx_reference", "idx_uri", "idx_quantity", "idx_number", "idx_date", "idx_string", "idx_token"):
        op.drop_table(name)
