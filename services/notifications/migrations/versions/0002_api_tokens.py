"""API tokens (stored hashed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

from shared.db import api_token

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    api_token.create(op.get_bind())


def downgrade() -> None:
    api_token.drop(op.get_bind())
