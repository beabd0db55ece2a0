"""Care-access index (who is on the care team of which patient); must match fhir_server/security/care_access.py.

Existing CarePlans and CareTeams are indexed here, with the listener's own reading of a care team, so
that upgrading a running deployment does not hide its patients from their pharmacies.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from fhir_server.security.care_access import rebuild
from fhir_server.store.types import BigId, Document

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_access",
        sa.Column("source_pk", BigId, nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("member", sa.String(140), nullable=False),
        sa.PrimaryKeyConstraint("source_pk", "patient_id", "member", name="pk_care_access"),
    )
    op.create_index("ix_care_access_member", "care_access", ["member", "patient_id"])
    resources = sa.table("resource", sa.column("pk", BigId), sa.column("res_type", sa.String),
                         sa.column("deleted", sa.Boolean), sa.column("content", Document))
    access = sa.table("care_access", sa.column("source_pk", BigId), sa.column("patient_id", sa.String),
                      sa.column("member", sa.String))
    rebuild(op.get_bind(), resources, access)


def downgrade() -> None:
    op.drop_index("ix_care_access_member", "care_access")
    op.drop_table("care_access")
