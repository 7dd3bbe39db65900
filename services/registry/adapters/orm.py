"""Tables of a registry node: its agency's people and places, its copy of agreements, matches."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, api_token

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class AgencyProfile(Base):
    __tablename__ = "agency_profile"
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    node_url: Mapped[str | None] = mapped_column(String(500))
    contact_phone: Mapped[str | None] = mapped_column(String(32))  # urgent incidents by SMS
    # the pre-departure checklist this agency asks for when it sends; None: the default list
    checklist: Mapped[list[Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Volunteer(Base):
    __tablename__ = "volunteer"
    __table_args__ = (
        UniqueConstraint("agency", "nationality", "identity_number", name="uq_volunteer_identity"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(2), index=True)
    # Personal data: never leaves this node except in a dossier for a confirmed match.
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    date_of_birth: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(20))
    nationality: Mapped[str] = mapped_column(String(2))
    identity_number: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    preferred_language: Mapped[str] = mapped_column(String(2), default="fr")
    notes: Mapped[str | None] = mapped_column(Text)
    consent_given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consent_purposes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Matching profile: shared with the network in volunteer.* events.
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    skills: Mapped[list[Any]] = mapped_column(JSON, default=list)
    domains: Mapped[list[Any]] = mapped_column(JSON, default=list)
    education_level: Mapped[str | None] = mapped_column(String(40))
    available_from: Mapped[date | None] = mapped_column(Date)
    available_until: Mapped[date | None] = mapped_column(Date)
    preferred_countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), index=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(String(40))
    withdrawn_note: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HostOrganisation(Base):
    __tablename__ = "host_organisation"
    __table_args__ = (
        UniqueConstraint("agency", "name", "city", name="uq_host_organisation_name_city"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(2), index=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    domain: Mapped[str] = mapped_column(String(80))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Placement(Base):
    __tablename__ = "placement"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(2), index=True)
    host_organisation_id: Mapped[str] = mapped_column(ForeignKey("host_organisation.id"))
    title: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    domain: Mapped[str] = mapped_column(String(80))
    required_skills: Mapped[list[Any]] = mapped_column(JSON, default=list)
    required_languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    slots: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    closed_reason: Mapped[str | None] = mapped_column(String(500))  # a CLOSURE_REASONS code
    closed_note: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agreement(Base):
    """This node's copy of an agreement; every party keeps one, kept equal by events."""

    __tablename__ = "agreement"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parties: Mapped[list[Any]] = mapped_column(JSON)
    proposer: Mapped[str] = mapped_column(String(2))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    quotas: Mapped[list[Any]] = mapped_column(JSON)
    balance_tolerance: Mapped[int] = mapped_column(Integer)
    fields_of_cooperation: Mapped[list[Any]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(Integer)
    terms_hash: Mapped[str] = mapped_column(String(64))
    approvals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    terminated_by: Mapped[str | None] = mapped_column(String(2))
    termination_reason: Mapped[str | None] = mapped_column(String(500))  # a code
    termination_note: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    terminated_on: Mapped[date | None] = mapped_column(Date)
    # each party's lessons and recommendations for the evaluation: {agency: {"text", "on"}}
    lessons: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Match(Base):
    """A proposal as this node sees it: its own decision and the other party's."""

    __tablename__ = "match"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), index=True)
    placement_id: Mapped[str] = mapped_column(String(64), index=True)
    sending_agency: Mapped[str] = mapped_column(String(2))
    host_agency: Mapped[str] = mapped_column(String(2))
    score: Mapped[float] = mapped_column()
    criteria: Mapped[list[Any]] = mapped_column(JSON, default=list)
    decisions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_reason: Mapped[str | None] = mapped_column(String(500))  # a decline/cancel code
    status_note: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    # the place as matching describes it: title, city, host organisation (no personal data)
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Mobility(Base):
    __tablename__ = "mobility"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    match_id: Mapped[str] = mapped_column(String(64), unique=True)
    agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    sending_agency: Mapped[str] = mapped_column(String(2))
    host_agency: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    reports: Mapped[list[Any]] = mapped_column(JSON, default=list)
    interruption_reason: Mapped[str | None] = mapped_column(String(40))
    interruption_note: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    # {"version": n, "items": [...]}: the sending agency's pre-departure checklist (or its copy)
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    planned_end: Mapped[date | None] = mapped_column(Date)
    check_ins: Mapped[list[Any] | None] = mapped_column(JSON)  # notes: local, never in an event
    follow_ups_sent: Mapped[list[Any] | None] = mapped_column(JSON)
    reviews: Mapped[list[Any] | None] = mapped_column(JSON)  # comments: local only
    # the host node's description of the placement: title, city, host organisation, dates
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    certificate_code: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Incident(Base):
    """An incident during a mission; this node's copy when the other agency reported it."""

    __tablename__ = "incident"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mobility_id: Mapped[str] = mapped_column(String(64), index=True)
    match_id: Mapped[str] = mapped_column(String(64))
    agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    sending_agency: Mapped[str] = mapped_column(String(2))
    host_agency: Mapped[str] = mapped_column(String(2))
    reported_by: Mapped[str] = mapped_column(String(2))
    reported_on: Mapped[date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), index=True)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    resolution: Mapped[str | None] = mapped_column(Text)  # local: never in an event
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    __table__ = api_token


class StaffAccount(Base):
    """A person who signs in to the agency's dashboard."""

    __tablename__ = "staff_account"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin, staff
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DashboardSession(Base):
    """A signed-in dashboard session: the cookie carries only its id; signing out ends it here,
    so a copy of the cookie stops working too."""

    __tablename__ = "dashboard_session"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportJob(Base):
    __tablename__ = "import_job"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_rows: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text)
    # the message's parts as {code, params} (services/registry/domain/messages.py); NULL before 0007
    notes: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DossierAccess(Base):
    """Every read of a volunteer's personal data by another agency's node."""

    __tablename__ = "dossier_access"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), index=True)
    match_id: Mapped[str] = mapped_column(String(64))
    reader_agency: Mapped[str] = mapped_column(String(2))
    token_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
