"""reason codes and local notes

Reasons become codes of the lists in shared/codes.py; the free text a user typed moves to a
local note column that no event, partner read or feed carries. The events this node already
wrote (its outbox, served by /events) are rewritten to the v2 contracts the same way, so the
feed stops carrying that text too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:00:00
"""

import json

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
    for wording, code in _CANCELLATION_WORDINGS.items():
        op.execute(
            sa.text(
                'UPDATE "match" SET status_reason = :code WHERE status_reason = :wording'
            ).bindparams(code=code, wording=wording)
        )
    known = ", ".join(f"'{c}'" for c in (*_DECLINE, *_CANCELLATION))
    op.execute(
        'UPDATE "match" SET status_note = status_reason, '  # noqa: S608
        "status_reason = CASE WHEN status = 'declined' THEN 'other' ELSE NULL END "
        f"WHERE status_reason IS NOT NULL AND status_reason NOT IN ({known})"
    )
    _rewrite_outbox()


# Event types whose contract went to v2 (reason codes); the codes each allows, and the code given
# to any other text. matching's old cancellation wordings map to their codes.
_V2_REASONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "placement.closed": (_CLOSURE, "other"),
    "agreement.terminated": (_TERMINATION, "other"),
    "match.declined": (_DECLINE, "other"),
    "match.cancelled": (_CANCELLATION, "superseded"),
    "match.accepted": ((), None),
    "match.confirmed": ((), None),
}
_CANCELLATION_WORDINGS = {
    "superseded by a better plan": "superseded",
    "expired without an answer": "expired",
    "volunteer withdrawn": "volunteer_withdrawn",
    "placement closed": "placement_closed",
    "agreement terminated": "agreement_terminated",
}
_SCHEMA = "https://schemas.vir-exchange.org/events/{type}/v{version}.json"


def _rewrite_outbox() -> None:
    outbox = sa.table(
        "outbox", sa.column("seq"), sa.column("event_type"), sa.column("payload", sa.Text)
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(outbox.c.seq, outbox.c.event_type, outbox.c.payload).where(
            outbox.c.event_type.in_(list(_V2_REASONS))
        )
    ).all()
    for seq, type_, payload in rows:
        event = json.loads(payload)
        if event.get("dataschema") != _SCHEMA.format(type=type_, version=1):
            continue
        allowed, fallback = _V2_REASONS[type_]
        reason = event["data"].pop("reason", None)
        if fallback is not None:
            reason = _CANCELLATION_WORDINGS.get(reason, reason)
            event["data"]["reason"] = reason if reason in allowed else fallback
        event["dataschema"] = _SCHEMA.format(type=type_, version=2)
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        conn.execute(sa.update(outbox).where(outbox.c.seq == seq).values(payload=text))


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
