"""what a delivery is about: the subject of its event

An agency's staff mailbox receives a message about every proposal, confirmation and mobility of
the agency: its messages about one thing (a match, an agreement) go out in order, those about
different things side by side (services/notifications/shares.py). Rows staged before have none
and keep the recipient's order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 14:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("delivery", sa.Column("subject", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("subject")
