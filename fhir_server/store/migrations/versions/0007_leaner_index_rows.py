"""Leaner index rows; must match fhir_server/search/tables.py (see docs/adr/0017-index-write-cost.md).

- No `param`/`res_type` text columns: nothing read them that the hashes and `resource` do not give.
- One value index on `idx_token` instead of two: (hash_value, res_pk, hash_sys) serves `code` and
  `system|code`.
- String rows record the HumanName/Address parts their text was found in (`parts`), and the rows of part
  parameters (`family`, `given`, `address-city`…) are folded into their parent's (`name`, `address`);
  the rows of `phone`/`email` go, `telecom`'s rows answer them. Which parameter reads another's rows
  comes from the SearchParameter definitions, so that step needs the server's `SearchParameters`
  (passed by `store.migrate.upgrade`) when the database holds index rows.
- The member-scoped string index is filled from the rewritten rows.

Revision ID: 0007
Revises: 0006
"""

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from fhir_server.search.hashing import identity_hash
from fhir_server.security.member_index import rebuild

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("idx_token", "idx_string", "idx_date", "idx_number", "idx_quantity", "idx_uri", "idx_reference")


def upgrade() -> None:
    op.drop_index("ix_idx_token_sys_value", "idx_token")
    op.drop_index("ix_idx_token_value", "idx_token")
    op.create_index("ix_idx_token_value_sys", "idx_token", ["hash_value", "res_pk", "hash_sys"])
    for table in _TABLES:
        op.drop_column(table, "param")
        op.drop_column(table, "res_type")
    for table in ("idx_string", "idx_string_member"):
        op.add_column(table, sa.Column("parts", sa.Integer, nullable=False, server_default="0"))
    conn = op.get_bind()
    if any(conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() for table in ("idx_string", "idx_token")):
        _fold_derived_rows(conn, context.config.attributes.get("search_params"))
    rebuild(conn)


def _fold_derived_rows(conn: sa.Connection, params: Any) -> None:
    if params is None:
        raise RuntimeError("revision 0007 rewrites index rows and needs the search parameter definitions: "
                           "run it through `oncolink db upgrade` or by starting the server")
    update = sa.text(
        "UPDATE idx_string SET parts = parts | :bit WHERE hash_identity = :parent AND EXISTS "
        "(SELECT 1 FROM idx_string s WHERE s.res_pk = idx_string.res_pk AND s.hash_identity = :part "
        "AND s.value_exact = idx_string.value_exact)")
    for res_type in params.resource_types():
        for code, param in params.for_type(res_type).items():
            bit, system = params.part_mask(res_type, code), params.fixed_system(res_type, code)
            if not bit and not system:
                continue
            hash_type = param.hash_type(res_type)
            keys = {"bit": bit, "part": identity_hash(hash_type, code),
                    "parent": identity_hash(hash_type, params.index_key(res_type, code))}
            if bit:
                conn.execute(update, keys)
            table = "idx_string" if bit else "idx_token"
            conn.execute(sa.text(f"DELETE FROM {table} WHERE hash_identity = :part"), keys)


def downgrade() -> None:
    """The removed rows and columns come back empty: a reindex would refill them."""
    for table in ("idx_string", "idx_string_member"):
        op.drop_column(table, "parts")
    for table in _TABLES:
        op.add_column(table, sa.Column("res_type", sa.String(64), nullable=False, server_default=""))
        op.add_column(table, sa.Column("param", sa.Text, nullable=False, server_default=""))
    op.drop_index("ix_idx_token_value_sys", "idx_token")
    op.create_index("ix_idx_token_value", "idx_token", ["hash_value", "res_pk"])
    op.create_index("ix_idx_token_sys_value", "idx_token", ["hash_sys_value", "res_pk"])
