"""agreement_view.newcomers and .replan_whole: a newcomer is placed without re-planning

A volunteer new to matching dirties its agreements as a newcomer (its id in `newcomers`); any
other change asks for the whole agreement to be re-planned (`replan_whole`). The planner places
newcomers alone when that keeps the plan optimal (newcomers.py), and re-plans otherwise.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 20:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreement_view") as batch:
        batch.add_column(
            sa.Column("newcomers", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(
            sa.Column("replan_whole", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("agreement_view") as batch:
        batch.drop_column("replan_whole")
        batch.drop_column("newcomers")
