"""Outbox, outbox partitions and inbox: the event core every service database carries.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

from shared.migrations import create_shared_tables, drop_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_shared_tables(op)


def downgrade() -> None:
    drop_shared_tables(op)
