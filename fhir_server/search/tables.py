"""Search index tables: one per parameter type, shared by every resource type.

Each row belongs to one current resource row (`res_pk`) and one parameter key; rows are replaced as a
whole when the resource changes and removed when it is deleted, so the tables only ever describe live
resources. Lookups go through precomputed 64-bit hashes (see `hashing.py`):

- `hash_identity` = H(type, key) selects "all values of this parameter" (`:missing`, ranges, sorting);
- the other hash columns fold in the searched values, so an exact match is one indexed equality.

`hash_identity` folds in the parameter key: the code, or for derived rows `code:identifier`,
`code:of-type`, `code$first-component` (composites). Base parameters of Resource/DomainResource are
hashed with the type "Resource" so that system-level searches use the same rows. Rows hold neither the
key nor the resource type as text: nothing reads them that the hashes and `resource` do not already
give, and every byte of a row is written to a page and to the WAL on every create.

Dates are stored as inclusive [low, high] ranges in microseconds since the epoch (UTC), numbers and
quantities as [low, high] doubles, so one comparison scheme serves instants, periods and ranges.

Write cost drives the physical design. Each table's primary key starts with `res_pk` and covers the
whole row's identity: on SQLite the tables are WITHOUT ROWID, i.e. clustered on it, so rows of a new
resource are appended in key order and "all rows of resource n" (delete, `EXISTS` probes, `:missing`,
sorting) needs no index of its own; secondary indexes exist only for lookups by value. There is no
foreign key to `resource`: rows are only ever written next to their resource row, in its transaction,
and a per-row parent check would cost more than it protects.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, PrimaryKeyConstraint, String, Table, Text, text

from fhir_server.store.tables import metadata
from fhir_server.store.types import BigId

# Byte-order collation on PostgreSQL: prefix tests become B-tree range scans, and ordering matches
# SQLite's default BINARY collation.
SortableText = Text().with_variant(Text(collation="C"), "postgresql")


def _common() -> list[Column]:
    return [
        Column("res_pk", BigId, nullable=False, autoincrement=False),
        Column("hash_identity", BigInteger, nullable=False),
    ]


idx_token = Table(
    "idx_token",
    metadata,
    *_common(),
    Column("hash_value", BigInteger, nullable=False),
    Column("hash_sys", BigInteger, nullable=False),
    Column("hash_sys_value", BigInteger, nullable=False),
    Column("system", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("text", SortableText, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "hash_sys_value", "text", name="pk_idx_token"),
    # `code` reads (hash_value), `system|code` reads hash_value and checks hash_sys in the index entry: one
    # index serves both, so a token row costs one randomly placed B-tree entry instead of two
    # (`hash_sys_value` only keeps rows distinct in the primary key). `res_pk` second keeps the probe
    # "does resource n have this code" a single lookup.
    Index("ix_idx_token_value_sys", "hash_value", "res_pk", "hash_sys"),
    Index("ix_idx_token_sys", "hash_sys", "res_pk"),
    sqlite_with_rowid=False,
)

idx_string = Table(
    "idx_string",
    metadata,
    *_common(),
    Column("hash_exact", BigInteger, nullable=False),
    Column("value_norm", SortableText, nullable=False),
    Column("value_exact", Text, nullable=False),
    # Which parts of a HumanName or Address the text is (bits, see extract/string.py), 0 otherwise.
    Column("parts", Integer, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "hash_exact", name="pk_idx_string"),
    Index("ix_idx_string_norm", "hash_identity", "value_norm", "res_pk"),
    sqlite_with_rowid=False,
)

idx_date = Table(
    "idx_date",
    metadata,
    *_common(),
    Column("low", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "low", "high", name="pk_idx_date"),
    Index("ix_idx_date_low", "hash_identity", "low", "res_pk"),
    Index("ix_idx_date_high", "hash_identity", "high", "res_pk"),
    sqlite_with_rowid=False,
)

idx_number = Table(
    "idx_number",
    metadata,
    *_common(),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "low", "high", name="pk_idx_number"),
    Index("ix_idx_number_low", "hash_identity", "low", "res_pk"),
    sqlite_with_rowid=False,
)

idx_quantity = Table(
    "idx_quantity",
    metadata,
    *_common(),
    Column("hash_units", BigInteger, nullable=False),
    Column("system", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "hash_units", "unit", "low", "high", name="pk_idx_quantity"),
    Index("ix_idx_quantity_low", "hash_identity", "low", "res_pk"),
    Index("ix_idx_quantity_units", "hash_units", "low", "res_pk"),
    sqlite_with_rowid=False,
)

idx_uri = Table(
    "idx_uri",
    metadata,
    *_common(),
    Column("hash_uri", BigInteger, nullable=False),
    Column("uri", SortableText, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "hash_uri", name="pk_idx_uri"),
    Index("ix_idx_uri_hash", "hash_uri", "res_pk"),
    Index("ix_idx_uri_identity", "hash_identity", "uri"),
    sqlite_with_rowid=False,
)

idx_reference = Table(
    "idx_reference",
    metadata,
    *_common(),
    # Local references are split into type and id ('' when the reference is absolute or canonical);
    # absolute URLs and canonicals (version stripped) go to `target_url`.
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("target_url", Text, nullable=False),
    PrimaryKeyConstraint("res_pk", "hash_identity", "target_type", "target_id", "target_url",
                         name="pk_idx_reference"),
    Index("ix_idx_reference_target", "target_id", "target_type", "hash_identity", "res_pk"),
    Index(
        "ix_idx_reference_url",
        "target_url",
        "hash_identity",
        sqlite_where=text("target_url <> ''"),
        postgresql_where=text("target_url <> ''"),
    ),
    sqlite_with_rowid=False,
)

# The string rows of each Patient once more per member of its care teams (`security/member_index.py` keeps
# them), led by the member: "the Patients visible to member M whose name starts with `dur`" is then one
# range scan, where the plain index would yield every `dur` of the establishment and probe each against
# the care team. Only the search of a care-team-scoped caller reads it (`QueryContext.members`).
idx_string_member = Table(
    "idx_string_member",
    metadata,
    Column("member", String(140), nullable=False),
    Column("hash_identity", BigInteger, nullable=False),
    Column("value_norm", SortableText, nullable=False),
    Column("hash_exact", BigInteger, nullable=False),
    Column("res_pk", BigId, nullable=False, autoincrement=False),
    Column("parts", Integer, nullable=False),
    PrimaryKeyConstraint("member", "hash_identity", "value_norm", "res_pk", "hash_exact",
                         name="pk_idx_string_member"),
    Index("ix_idx_string_member_res", "res_pk", "member"),
    sqlite_with_rowid=False,
)

INDEX_TABLES: dict[str, Table] = {
    "token": idx_token,
    "string": idx_string,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "uri": idx_uri,
    "reference": idx_reference,
}
