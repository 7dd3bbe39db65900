"""pre-departure checklist, check-ins and incidents

An agency's own checklist (NULL: the default list) and each mobility's copy with its ticks; a
mobility's planned end, its check-in answers and the reminders already sent; incidents; the
agency's phone for urgent incidents; end-of-mission reviews, the host node's description of the
placement (and matching's, on each proposal) and the completion certificate's verification code.
Mobilities opened before this revision have no checklist and may depart as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agency_profile", sa.Column("checklist", sa.JSON(), nullable=True))
    op.add_column("agency_profile", sa.Column("contact_phone", sa.String(32), nullable=True))
    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("mobility_id", sa.String(length=64), nullable=False),
        sa.Column("match_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("sending_agency", sa.String(length=2), nullable=False),
        sa.Column("host_agency", sa.String(length=2), nullable=False),
        sa.Column("reported_by", sa.String(length=2), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index(op.f("ix_incident_mobility_id"), "incident", ["mobility_id"])
    op.create_index(op.f("ix_incident_agreement_id"), "incident", ["agreement_id"])
    op.create_index(op.f("ix_incident_status"), "incident", ["status"])
    op.add_column("mobility", sa.Column("checklist", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("planned_end", sa.Date(), nullable=True))
    op.add_column("mobility", sa.Column("check_ins", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("follow_ups_sent", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("reviews", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("placement", sa.JSON(), nullable=True))
    op.add_column("match", sa.Column("placement", sa.JSON(), nullable=True))
    op.add_column("agreement", sa.Column("lessons", sa.JSON(), nullable=True))
    op.add_column("mobility", sa.Column("certificate_code", sa.String(32), nullable=True))
    op.create_index(
        op.f("ix_mobility_certificate_code"), "mobility", ["certificate_code"], unique=True
    )


def downgrade() -> None:
    op.drop_table("incident")
    op.drop_column("match", "placement")
    op.drop_column("agreement", "lessons")
    op.drop_column("agency_profile", "contact_phone")
    op.drop_index(op.f("ix_mobility_certificate_code"), table_name="mobility")
    for column in (
        "certificate_code",
        "placement",
        "reviews",
        "follow_ups_sent",
        "check_ins",
        "planned_end",
        "checklist",
    ):
        op.drop_column("mobility", column)
    op.drop_column("agency_profile", "checklist")
