"""Notifications data: deliveries and their attempts, preferences, partner subscriptions, and the
non-personal facts (placements, agreements) needed to word a message."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata


class Delivery(Base):
    """One message to one recipient on one channel about one event (idempotency key unique)."""

    __tablename__ = "delivery"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    agencies: Mapped[list[Any]] = mapped_column(JSON)
    category: Mapped[str] = mapped_column(String(40))
    mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    recipient_kind: Mapped[str] = mapped_column(
        String(20)
    )  # volunteer, host_organisation, staff, partner
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # email, sms, webhook
    # The event's subject (the match, agreement, mobility… it is about): staff messages about
    # one subject go out in order, about different subjects side by side (shares.py).
    subject: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSON
    )  # the event facts the message needs, no contact
    status: Mapped[str] = mapped_column(
        String(20), index=True
    )  # pending, sent, failed, skipped, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("delivery.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(20))  # sent, retry, failed, gone
    reason: Mapped[str | None] = mapped_column(Text)
    provider_answer: Mapped[str | None] = mapped_column(Text)


class Preference(Base):
    """An opt-out of one recipient for one channel and category ("*" = every category)."""

    __tablename__ = "preference"
    recipient_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """A partner's webhook subscription to exchange events (payloads without personal data)."""

    __tablename__ = "subscription"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner: Mapped[str] = mapped_column(String(200))
    owner_email: Mapped[str] = mapped_column(String(254))
    url: Mapped[str] = mapped_column(String(2000))
    patterns: Mapped[list[Any]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(200))  # needed in clear to sign (whsec_…)
    status: Mapped[str] = mapped_column(String(20))  # active, paused, disabled
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlacementFact(Base):
    """How a message words a placement: title, organisation, city, dates (no personal data)."""

    __tablename__ = "placement_fact"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(2))
    host_organisation_id: Mapped[str] = mapped_column(String(64))
    host_organisation_name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
