"""an index on match.created_at

Staff list their matches newest first (the API's default order): with the index the newest page
is read from its end instead of sorting every match of the agency at every request.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:35:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_match_created_at", "match", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_match_created_at", table_name="match")
