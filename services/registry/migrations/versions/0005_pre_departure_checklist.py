"""pre-departure checklist

An agency's own checklist (NULL: the default list) and each mobility's copy with its ticks.
Mobilities opened before this revision have no checklist and may depart as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agency_profile", sa.Column("checklist", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("checklist", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("mobility", "checklist")
    op.drop_column("agency_profile", "checklist")
