"""Incidents during a mission: reported by either agency, handled by the one that owns them.

Every incident has a category and a severity (codes both agencies read alike), an owner (the
agency handling it, by default the one that reported it), a status and, once resolved, a
resolution. The owner alone moves it on or hands it to the other agency; the other agency's node
keeps a copy. What happened and how it was resolved, in words, stays where it was written.
High and critical incidents are told to both agencies' staff at once (notifications' routing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from services.registry.domain.errors import (
    DomainError,
    DomainEvent,
    InvalidInput,
    NotEntitled,
    Pending,
)
from services.registry.domain.messages import msg
from shared import codes
from shared.events import payloads

URGENT = ("high", "critical")


class IncidentStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class IncidentError(DomainError):
    pass


def _check_codes(severity: str, category: str | None = None) -> None:
    if severity not in codes.INCIDENT_SEVERITIES:
        raise InvalidInput(msg("incident.unknown_severity", severity=severity), "severity")
    if category is not None and category not in codes.INCIDENT_CATEGORIES:
        raise InvalidInput(msg("incident.unknown_category", category=category), "category")


@dataclass
class Incident:
    id: str
    mobility_id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    reported_by: str
    reported_on: date
    severity: str
    category: str
    owner: str
    status: IncidentStatus = IncidentStatus.OPEN
    resolved_on: date | None = None
    version: int = 1

    @property
    def parties(self) -> tuple[str, str]:
        return (self.sending_agency, self.host_agency)

    @classmethod
    def report(
        cls,
        id: str,
        mobility: Any,
        by: str,
        on: date,
        severity: str,
        category: str,
        owner: str | None = None,
    ) -> tuple[Incident, DomainEvent]:
        """`mobility` is the Mobility aggregate the incident happened in."""
        mobility.check_party(by)
        _check_codes(severity, category)
        if mobility.status not in ("in_mission", "pre_departure"):
            raise IncidentError(msg("incident.mobility_status", status=mobility.status), "status")
        owner = owner or by
        if owner not in mobility.parties:
            raise InvalidInput(msg("incident.owner_not_party", agency=owner), "owner")
        incident = cls(
            id=id,
            mobility_id=mobility.id,
            match_id=mobility.match_id,
            agreement_id=mobility.agreement_id,
            sending_agency=mobility.sending_agency,
            host_agency=mobility.host_agency,
            reported_by=by,
            reported_on=on,
            severity=severity,
            category=category,
            owner=owner,
        )
        return incident, incident._event("mobility.incident_reported", on)

    def _event(self, type_: str, on: date) -> DomainEvent:
        return DomainEvent(
            type_,
            {
                "incident_id": self.id,
                "mobility_id": self.mobility_id,
                "match_id": self.match_id,
                "agreement_id": self.agreement_id,
                "sending_agency": self.sending_agency,
                "host_agency": self.host_agency,
                "reported_by": self.reported_by,
                "on": on.isoformat(),
                "severity": self.severity,
                "category": self.category,
                "status": self.status.value,
                "owner": self.owner,
                "version": self.version,
            },
        )

    def update(
        self,
        by: str,
        on: date,
        status: str | None = None,
        owner: str | None = None,
        severity: str | None = None,
    ) -> DomainEvent:
        """The owner moves the incident on, re-rates it or hands it to the other agency."""
        if by not in self.parties:
            raise IncidentError(msg("incident.not_a_party", agency=by), "agency")
        if by != self.owner:
            raise NotEntitled(msg("incident.owner_only", agency=self.owner), "owner")
        if self.status == IncidentStatus.RESOLVED:
            raise IncidentError(msg("incident.resolved"), "status")
        if status is not None and status not in codes.INCIDENT_STATUSES:
            raise InvalidInput(msg("incident.unknown_status", status=status), "status")
        if severity is not None:
            _check_codes(severity)
        if owner is not None and owner not in self.parties:
            raise InvalidInput(msg("incident.not_a_party", agency=owner), "owner")
        if on < self.reported_on:
            raise InvalidInput(msg("incident.before_report"), "on")
        if status is not None:
            self.status = IncidentStatus(status)
            self.resolved_on = on if self.status == IncidentStatus.RESOLVED else None
        self.owner = owner or self.owner
        self.severity = severity or self.severity
        self.version += 1
        return self._event("mobility.incident_updated", on)

    def apply_update(self, by: str, data: payloads.IncidentState) -> bool:
        """The owner's update, copied here; an older one arriving late is moot."""
        if data.version <= self.version:
            return False
        if data.version > self.version + 1:
            raise Pending(msg("incident.update_pending"), "version")
        self.update(by, data.on, data.status, data.owner, data.severity)
        return True
