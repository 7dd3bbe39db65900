"""reason codes and local notes

Reasons become codes of the lists in shared/codes.py; the free text a user typed moves to a
local note column that no event, partner read or feed carries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The lists of shared/codes.py as they were when this migration was written (a migration must
# not change when the lists grow).
_CLOSURE = ("filled", "cancelled_by_host", "funding", "security", "other")
_TERMINATION = ("end_of_programme", "mutual_consent", "breach", "funding", "security", "other")
_DECLINE = (
    "profile_mismatch",
    "dates",
    "languages",
    "host_unavailable",
    "volunteer_unavailable",
    "quota",
    "other",
)
_CANCELLATION = (
    "superseded",
    "expired",
    "volunteer_withdrawn",
    "placement_closed",
    "agreement_terminated",
)

_MOVES = (
    # table, reason column, note column, codes allowed, code for anything else
    ("placement", "closed_reason", "closed_note", _CLOSURE, "other"),
    ("agreement", "termination_reason", "termination_note", _TERMINATION, "other"),
)


def upgrade() -> None:
    with op.batch_alter_table("volunteer") as batch_op:
        batch_op.add_column(sa.Column("withdrawn_note", sa.Text(), nullable=True))
    with op.batch_alter_table("placement") as batch_op:
        batch_op.add_column(sa.Column("closed_note", sa.Text(), nullable=True))
    with op.batch_alter_table("agreement") as batch_op:
        batch_op.add_column(sa.Column("termination_note", sa.Text(), nullable=True))
    with op.batch_alter_table("match") as batch_op:
        batch_op.add_column(sa.Column("status_note", sa.Text(), nullable=True))
    with op.batch_alter_table("mobility") as batch_op:
        batch_op.add_column(sa.Column("interruption_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("interruption_note", sa.Text(), nullable=True))
    for table, reason, note, allowed, fallback in _MOVES:
        known = ", ".join(f"'{c}'" for c in allowed)
        op.execute(
            f"UPDATE {table} SET {note} = {reason}, {reason} = '{fallback}' "  # noqa: S608
            f"WHERE {reason} IS NOT NULL AND {reason} NOT IN ({known})"
        )
    known = ", ".join(f"'{c}'" for c in (*_DECLINE, *_CANCELLATION))
    op.execute(
        'UPDATE "match" SET status_note = status_reason, '  # noqa: S608
        "status_reason = CASE WHEN status = 'declined' THEN 'other' ELSE NULL END "
        f"WHERE status_reason IS NOT NULL AND status_reason NOT IN ({known})"
    )


def downgrade() -> None:
    with op.batch_alter_table("mobility") as batch_op:
        batch_op.drop_column("interruption_note")
        batch_op.drop_column("interruption_reason")
    with op.batch_alter_table("match") as batch_op:
        batch_op.drop_column("status_note")
    with op.batch_alter_table("agreement") as batch_op:
        batch_op.drop_column("termination_note")
    with op.batch_alter_table("placement") as batch_op:
        batch_op.drop_column("closed_note")
    with op.batch_alter_table("volunteer") as batch_op:
        batch_op.drop_column("withdrawn_note")
