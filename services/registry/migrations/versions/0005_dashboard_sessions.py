"""dashboard sessions kept server-side, so signing out ends them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_session")),
    )
    op.create_index(
        op.f("ix_dashboard_session_account_id"), "dashboard_session", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_session_account_id"), table_name="dashboard_session")
    op.drop_table("dashboard_session")
