"""The planning problem of one agreement, read from matching's read model.

Volunteers are read as (id, version) first; only those whose version this process has not
converted yet are loaded in full. An agreement re-planned for one new volunteer among thousands
then reads two short columns per volunteer instead of every JSON field."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from services.matching.adapters.orm import (
    AgreementView,
    ExcludedPair,
    PlacementView,
    Proposal,
    VolunteerView,
)
from services.matching.domain import model
from services.matching.handlers import CANDIDATE_STATUSES, HOLDING


def volunteer_model(v: VolunteerView) -> model.Volunteer:
    return model.Volunteer(
        id=v.id,
        agency=v.agency,
        skills=frozenset(s.lower() for s in v.skills),
        domains=frozenset(d.lower() for d in v.domains),
        languages=tuple((x["code"], x["level"]) for x in v.languages),
        available_from=v.available_from,
        available_until=v.available_until,
        preferred_countries=frozenset(v.preferred_countries),
        registered_at=v.registered_at,
    )


class _Converted:
    """Volunteers converted for the planner, by id, valid while their version holds."""

    LOAD_CHUNK = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[int, model.Volunteer]] = {}

    def candidates(
        self, session: Session, parties: list[str], busy: set[str]
    ) -> list[model.Volunteer]:
        current = [
            (vid, version)
            for vid, version in session.execute(
                select(VolunteerView.id, VolunteerView.version).where(
                    VolunteerView.status.in_(CANDIDATE_STATUSES),
                    VolunteerView.agency.in_(parties),
                )
            )
            if vid not in busy
        ]
        with self._lock:
            known = dict(self._by_id)
        stale = [vid for vid, version in current if known.get(vid, (None,))[0] != version]
        for start in range(0, len(stale), self.LOAD_CHUNK):
            chunk = stale[start : start + self.LOAD_CHUNK]
            for row in session.scalars(select(VolunteerView).where(VolunteerView.id.in_(chunk))):
                known[row.id] = (row.version, volunteer_model(row))
        found = []
        for vid, version in current:
            entry = known.get(vid)
            if entry is not None and entry[0] == version:
                found.append(entry[1])
            else:  # written between the two reads: read it again
                again = session.get(VolunteerView, vid, populate_existing=True)
                if again is not None and again.status in CANDIDATE_STATUSES:
                    known[vid] = (again.version, volunteer_model(again))
                    found.append(known[vid][1])
        if stale:
            with self._lock:
                if len(self._by_id) > 4 * max(len(current), 1000):
                    self._by_id.clear()  # bounded: withdrawn and busy volunteers fall out
                self._by_id.update((vid, known[vid]) for vid in stale if vid in known)
        return found


_converted = _Converted()


def placement_model(p: PlacementView, slots: int) -> model.Placement:
    return model.Placement(
        id=p.id,
        agency=p.agency,
        domain=p.domain.lower(),
        start=p.start,
        end=p.end,
        slots=slots,
        required_skills=frozenset(s.lower() for s in p.required_skills),
        required_languages=tuple((x["code"], x["level"]) for x in p.required_languages),
    )


class Held(NamedTuple):
    """An open or confirmed proposal as planning reads it: its row's short columns only.

    Read as plain rows, not ORM objects: an agreement with thousands of open proposals is
    re-planned for every new volunteer, and building the objects was most of the reading."""

    id: str
    volunteer_id: str
    placement_id: str
    sending_agency: str
    host_agency: str
    status: str
    decisions_json: str  # as stored; compared as text, parsed only when not empty

    @property
    def decisions(self) -> dict[str, Any]:
        return decisions_of(self.decisions_json)


# The decisions as the database holds them (JSON text): most open proposals have none yet ("{}"),
# and parsing thousands of them at every plan and again at its check was a third of a round.
DECISIONS_TEXT = cast(Proposal.decisions, Text)


def decisions_of(text: str | None) -> dict[str, Any]:
    if not text or text == "{}":
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


HELD_COLUMNS = (
    Proposal.id,
    Proposal.volunteer_id,
    Proposal.placement_id,
    Proposal.sending_agency,
    Proposal.host_agency,
    Proposal.status,
    DECISIONS_TEXT,
)


def holding_digest(rows: Iterable[tuple[str, str, str]]) -> str:
    """One digest of an agreement's open and confirmed proposals as (id, status, decisions as
    stored): each field prefixed by its length (no two lists give the same text), in id order."""
    text = "".join(f"{len(i)}:{i}{len(s)}:{s}{len(d)}:{d}" for i, s, d in sorted(rows))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def holding_digest_now(session: Session, agreement_id: str) -> str:
    """holding_digest of what the database holds now; on PostgreSQL computed there, so that
    checking a plan of thousands of open proposals reads one value instead of every row."""
    holding = (Proposal.agreement_id == agreement_id, Proposal.status.in_(HOLDING))
    fields = (Proposal.id, Proposal.status, DECISIONS_TEXT)
    if session.get_bind().dialect.name != "postgresql":
        return holding_digest(session.execute(select(*fields).where(*holding)).tuples())
    text = func.concat(*(part for f in fields for part in (func.length(f), ":", f)))
    # Ids in code point order, as Python's sort (the "C" collation compares UTF-8 bytes).
    joined = func.string_agg(text, aggregate_order_by(literal(""), Proposal.id.collate("C")))
    return str(session.scalar(select(func.md5(func.coalesce(joined, ""))).where(*holding)))


def is_pinned(p: Proposal | Held) -> bool:
    if p.status != "proposed":
        return p.status == "confirmed"
    if isinstance(p, Held) and p.decisions_json == "{}":
        return False  # no decision yet: most open proposals, read thousands of times per plan
    return "accepted" in p.decisions.values()


def agreement_model(agreement: AgreementView) -> model.Agreement:
    return model.Agreement(
        id=agreement.id,
        parties=tuple(agreement.parties),
        start=agreement.start,
        end=agreement.end,
        quotas=tuple(
            model.Quota(q["sending"], q["host"], q["volunteers"]) for q in agreement.quotas
        ),
        balance_tolerance=agreement.balance_tolerance,
        fields_of_cooperation=frozenset(f.lower() for f in agreement.fields_of_cooperation),
    )


def build_problem(
    session: Session, agreement: AgreementView, today: date
) -> tuple[model.Problem, list[Held]]:
    """The problem of one agreement, and its current open or confirmed proposals."""
    mine = [
        Held(*row)
        for row in session.execute(
            select(*HELD_COLUMNS).where(
                Proposal.agreement_id == agreement.id, Proposal.status.in_(HOLDING)
            )
        )
    ]
    parties = list(agreement.parties)
    # Only what concerns the parties is read, not every agreement of the network: their
    # volunteers held by another agreement (sending) and their places taken by one (host).
    elsewhere = session.execute(
        select(Proposal.volunteer_id, Proposal.placement_id).where(
            Proposal.agreement_id != agreement.id,
            Proposal.status.in_(HOLDING),
            or_(Proposal.sending_agency.in_(parties), Proposal.host_agency.in_(parties)),
        )
    ).all()
    busy = {volunteer_id for volunteer_id, _ in elsewhere}
    volunteers = _converted.candidates(session, parties, busy)
    pinned = [p for p in mine if is_pinned(p)]
    # A pinned pair's volunteer is a candidate nowhere else; keep it in the problem for the check.
    taken_elsewhere: dict[str, int] = {}
    for _, placement_id in elsewhere:
        taken_elsewhere[placement_id] = taken_elsewhere.get(placement_id, 0) + 1
    open_places = select(PlacementView).where(
        PlacementView.status == "open", PlacementView.agency.in_(parties)
    )
    placements = [
        placement_model(p, max(0, p.slots - taken_elsewhere.get(p.id, 0)))
        for p in session.scalars(open_places)
    ]
    # The pairs excluded on these places only (declines and expiries pile up network-wide).
    declined = frozenset(
        (volunteer_id, placement_id)
        for volunteer_id, placement_id in session.execute(
            select(ExcludedPair.volunteer_id, ExcludedPair.placement_id).where(
                ExcludedPair.placement_id.in_(
                    open_places.with_only_columns(PlacementView.id).scalar_subquery()
                )
            )
        )
    )
    problem = model.Problem(
        agreement=agreement_model(agreement),
        volunteers=tuple(volunteers),
        placements=tuple(placements),
        pinned=tuple(
            model.Pinned(p.volunteer_id, p.placement_id, p.sending_agency, p.host_agency)
            for p in pinned
        ),
        declined=declined,
        proposed=frozenset((p.volunteer_id, p.placement_id) for p in mine if not is_pinned(p)),
        today=today,
    )
    return problem, mine
