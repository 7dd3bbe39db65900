"""The matching read model, built from events only, and the proposals matching owns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata


class VolunteerView(Base):
    """A volunteer's matching profile as volunteer.* events describe it (no personal data)."""

    __tablename__ = "volunteer_view"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(2), index=True)
    status: Mapped[str] = mapped_column(String(20))
    skills: Mapped[list[Any]] = mapped_column(JSON)
    domains: Mapped[list[Any]] = mapped_column(JSON)
    languages: Mapped[list[Any]] = mapped_column(JSON)
    education_level: Mapped[str | None] = mapped_column(String(40))
    available_from: Mapped[date | None] = mapped_column(Date)
    available_until: Mapped[date | None] = mapped_column(Date)
    preferred_countries: Mapped[list[Any]] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A new random value at every write: the planner's cache of converted volunteers is valid
    # while it holds (random, so a rebuilt read model never reuses an old value).
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class PlacementView(Base):
    __tablename__ = "placement_view"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(2), index=True)
    host_organisation_name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(80))
    required_skills: Mapped[list[Any]] = mapped_column(JSON)
    required_languages: Mapped[list[Any]] = mapped_column(JSON)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    slots: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))


class AgreementView(Base):
    __tablename__ = "agreement_view"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parties: Mapped[list[Any]] = mapped_column(JSON)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    quotas: Mapped[list[Any]] = mapped_column(JSON)
    balance_tolerance: Mapped[int] = mapped_column(Integer)
    fields_of_cooperation: Mapped[list[Any]] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    approvals: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    # Set when an input of this agreement's plan changed; planners take dirty agreements one at
    # a time (FOR UPDATE SKIP LOCKED), so several matching instances never plan the same one.
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    # What made it dirty: volunteers new to matching only (their ids; newcomers.py may place
    # them without re-planning), or anything else (`replan_whole`: the whole agreement).
    newcomers: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    replan_whole: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Proposal(Base):
    """A match proposal and its two-party confirmation."""

    __tablename__ = "proposal"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    volunteer_id: Mapped[str] = mapped_column(String(64), index=True)
    placement_id: Mapped[str] = mapped_column(String(64), index=True)
    sending_agency: Mapped[str] = mapped_column(String(2))
    host_agency: Mapped[str] = mapped_column(String(2))
    score: Mapped[float] = mapped_column(Float)
    criteria: Mapped[list[Any]] = mapped_column(JSON)
    decisions: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExcludedPair(Base):
    """A pair never to propose again: declined by either agency, or let expire."""

    __tablename__ = "excluded_pair"
    volunteer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Indexed alone too: planning reads the pairs excluded on one agreement's places.
    placement_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    reason: Mapped[str] = mapped_column(String(500))
