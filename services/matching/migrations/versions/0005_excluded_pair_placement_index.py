"""an index on excluded_pair.placement_id

Planning an agreement reads the pairs excluded on its own open places (declines and expiries
pile up network-wide), which the primary key (volunteer_id, placement_id) cannot serve.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 15:05:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_excluded_pair_placement_id", "excluded_pair", ["placement_id"])


def downgrade() -> None:
    op.drop_index("ix_excluded_pair_placement_id", table_name="excluded_pair")
