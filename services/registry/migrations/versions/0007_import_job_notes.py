"""an import job's notes as message codes

Why a job stopped, or which columns it ignored, as {code, params} beside the English `message`
the API answers, for the dashboard to say them in its own language. Jobs before this revision
have none (NULL): the dashboard shows their English message.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_job", sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("import_job", "notes")
