"""volunteer view version: the planner keeps converted volunteers while their version holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volunteer_view") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("volunteer_view") as batch:
        batch.drop_column("version")
