"""Care-access rows found by patient; must match fhir_server/security/care_access.py.

The member-scoped index (fhir_server/security/member_index.py) reads the care-access rows of the few
patients a transaction wrote; with the only index led by `member`, PostgreSQL scanned every row for it.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_care_access_patient", "care_access", ["patient_id", "member"])


def downgrade() -> None:
    op.drop_index("ix_care_access_patient", "care_access")
