"""pre-departure checklist and check-ins

An agency's own checklist (NULL: the default list) and each mobility's copy with its ticks; a
mobility's planned end, its check-in answers and the reminders already sent.
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
    op.add_column("mobility", sa.Column("planned_end", sa.Date(), nullable=True))
    op.add_column("mobility", sa.Column("check_ins", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("follow_ups_sent", sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ("follow_ups_sent", "check_ins", "planned_end", "checklist"):
        op.drop_column("mobility", column)
    op.drop_column("agency_profile", "checklist")
