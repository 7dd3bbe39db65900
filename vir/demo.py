"""The pilot scenario of the demo network: ANVT (Togo) and CNPV (Mali), 2017–2018.

Under the pilot agreement 4 Togolese volunteers go to Mali and 2 Malian volunteers to Togo
(balance tolerance 2). The demo registers 6 Togolese and 3 Malian volunteers, host organisations
and placements in both countries, TG proposes the agreement and ML approves it; matching then
proposes 4 + 2 placements that staff accept or decline on the dashboards.

The pilot's period has ended and matching never proposes under an ended agreement, so the seed
goes one step further, as the agencies did: a renewed TG–ML agreement running from the start of
the current year to the end of the next, with new volunteers and placements dated from today,
under which matching makes the live proposals.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from services.registry import handlers
from services.registry.adapters.orm import AgencyProfile, Agreement, Volunteer
from shared.access import create_token
from shared.auth import Role, new_token
from shared.private_files import write_private

AGENCIES: dict[str, dict[str, Any]] = {
    "TG": {
        "name": "Agence nationale du volontariat au Togo (ANVT)",
        "languages": ["fr", "ee"],
        "contact_email": "echanges@anvt.example.tg",
        "contact_phone": "+228 22 21 00 00",  # urgent incidents by SMS
    },
    "ML": {
        "name": "Centre national de promotion du volontariat (CNPV)",
        "languages": ["fr", "bm"],
        "contact_email": "echanges@cnpv.example.ml",
        "contact_phone": "+223 20 22 00 00",
    },
}

VOLUNTEERS = {
    "TG": [
        (
            "Ama",
            "Mensah",
            "1993-03-14",
            "female",
            ["public health", "community mobilisation"],
            ["health"],
        ),
        ("Kossi", "Agbeko", "1991-11-02", "male", ["teaching", "mathematics"], ["education"]),
        ("Afi", "Dzifa", "1995-06-21", "female", ["public health", "nursing"], ["health"]),
        ("Komlan", "Adjovi", "1990-01-30", "male", ["agronomy", "irrigation"], ["agriculture"]),
        (
            "Yawa",
            "Tchalla",
            "1994-08-09",
            "female",
            ["environment", "waste management"],
            ["environment"],
        ),
        ("Edem", "Kpodar", "1992-05-17", "male", ["civil registration", "it"], ["governance"]),
    ],
    "ML": [
        ("Aminata", "Traoré", "1994-02-11", "female", ["public health", "nutrition"], ["health"]),
        ("Moussa", "Keïta", "1990-09-25", "male", ["agronomy", "cooperatives"], ["agriculture"]),
        ("Fatoumata", "Diarra", "1996-12-03", "female", ["teaching", "literacy"], ["education"]),
    ],
}

# (organisation, city, domain, placement title, required skills)
PLACES = {
    "ML": [
        (
            "Centre de santé communautaire de Sikasso",
            "Sikasso",
            "health",
            "Animateur·rice de santé communautaire",
            ["public health"],
        ),
        (
            "Lycée technique de Ségou",
            "Ségou",
            "education",
            "Enseignant·e de mathématiques",
            ["teaching"],
        ),
        (
            "Office du Niger — antenne de Niono",
            "Niono",
            "agriculture",
            "Appui aux périmètres irrigués",
            ["agronomy"],
        ),
        (
            "Mairie de Kayes",
            "Kayes",
            "governance",
            "Modernisation de l'état civil",
            ["civil registration"],
        ),
    ],
    "TG": [
        (
            "Hôpital préfectoral de Tsévié",
            "Tsévié",
            "health",
            "Appui au service de nutrition",
            ["public health"],
        ),
        (
            "Institut de conseil et d'appui technique, Kara",
            "Kara",
            "agriculture",
            "Appui aux coopératives agricoles",
            ["agronomy"],
        ),
    ],
}

START, END = date(2017, 9, 1), date(2018, 12, 31)

# The renewal's volunteers: the pilot's profiles, new people.
RENEWAL_NAMES = {
    "TG": [
        ("Akouvi", "Dossou"),
        ("Yao", "Lawson"),
        ("Essi", "Amegan"),
        ("Kodjo", "Agbodjan"),
        ("Abla", "Akakpo"),
        ("Sena", "Kouevi"),
    ],
    "ML": [("Oumou", "Sangaré"), ("Bakary", "Coulibaly"), ("Awa", "Dembélé")],
}
FIELDS = ["health", "education", "agriculture", "environment", "governance"]


def renewal_period(today: date | None = None) -> tuple[date, date]:
    today = today or date.today()
    return date(today.year, 1, 1), date(today.year + 1, 12, 31)


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def seeded(node: Any) -> bool:
    with node.runtime.sessions() as session:
        return bool(session.scalar(select(func.count()).select_from(Agreement)))


def _register(
    session: Any,
    agency: str,
    people: list[tuple[Any, ...]],
    tag: str,
    window: tuple[date, date],
    consent_at: datetime,
) -> None:
    node = handlers.Node(agency)
    other = "ML" if agency == "TG" else "TG"
    prefix = "+228" if agency == "TG" else "+223"
    for n, (first, last, born, gender, skills, domains) in enumerate(people, start=1):
        handlers.register_volunteer(
            session,
            node,
            {
                "first_name": first,
                "last_name": last,
                "date_of_birth": date.fromisoformat(born),
                "gender": gender,
                "nationality": agency,
                "identity_number": f"{agency}-{tag}-{n:04d}",
                "email": f"{_ascii(first)}.{_ascii(last)}@example.org",
                "phone": f"{prefix} 9{int(tag == 'RENEWAL')} 00 00 {n:02d}",
                "preferred_language": "fr",
                "consent": {
                    "given_at": consent_at,
                    "purposes": [
                        "registration",
                        "matching",
                        "sharing_with_host_agency",
                        "notifications",
                    ],
                },
                "languages": [{"code": "fr", "level": "C1"}],
                "skills": skills,
                "domains": domains,
                "education_level": "bachelor",
                "available_from": window[0],
                "available_until": window[1],
                "preferred_countries": [other],
            },
        )


def _registry_data(session: Any, agency: str, today: date) -> None:
    node = handlers.Node(agency)
    profile = AGENCIES[agency]
    session.merge(
        AgencyProfile(code=agency, node_url=None, updated_at=datetime.now(UTC), **profile)
    )
    pilot = (date(2017, 9, 1), date(2018, 9, 30))
    _register(session, agency, VOLUNTEERS[agency], "PILOT", pilot, datetime(2017, 6, 1, tzinfo=UTC))
    renewal_people = [
        (first, last, *profile_[2:])
        for (first, last), profile_ in zip(RENEWAL_NAMES[agency], VOLUNTEERS[agency], strict=False)
    ]
    starts = today + timedelta(days=60)
    window = (today + timedelta(days=30), today + timedelta(days=400))
    _register(session, agency, renewal_people, "RENEWAL", window, datetime.now(UTC))
    for org_name, city, domain, title, skills in PLACES[agency]:
        org = handlers.create_host_organisation(
            session,
            node,
            {
                "name": org_name,
                "city": city,
                "domain": domain,
                "contact_email": "contact@example.org",
                "contact_phone": None,
            },
        )
        for start, end in (
            (date(2017, 10, 2), date(2018, 7, 31)),
            (starts, starts + timedelta(days=270)),
        ):
            handlers.publish_placement(
                session,
                node,
                {
                    "host_organisation_id": org.id,
                    "title": title,
                    "city": city,
                    "domain": domain,
                    "required_skills": skills,
                    "required_languages": [{"code": "fr", "level": "B2"}],
                    "start": start,
                    "end": end,
                    "slots": 1,
                },
            )


def _agreement(registries: dict[str, Any], start: date, end: date, timeout: float) -> str:
    """TG proposes, ML approves once the proposal reached its copy."""
    with registries["TG"].runtime.sessions.begin() as session:
        agreement = handlers.propose_agreement(
            session,
            handlers.Node("TG"),
            {
                "partners": ["ML"],
                "start": start,
                "end": end,
                "quotas": [
                    {"sending": "TG", "host": "ML", "volunteers": 4},
                    {"sending": "ML", "host": "TG", "volunteers": 2},
                ],
                "balance_tolerance": 2,
                "fields_of_cooperation": FIELDS,
            },
        )
        agreement_id, terms_hash = agreement.id, agreement.terms_hash
    deadline = time.monotonic() + timeout
    while True:  # events travel asynchronously
        with registries["ML"].runtime.sessions() as session:
            if session.get(Agreement, agreement_id) is not None:
                break
        if time.monotonic() > deadline:
            raise TimeoutError("the agreement did not reach the ML registry")
        time.sleep(0.2)
    with registries["ML"].runtime.sessions.begin() as session:
        handlers.approve_agreement(session, handlers.Node("ML"), agreement_id, terms_hash)
    return agreement_id


def seed_pilot(
    registries: dict[str, Any], timeout: float = 60.0, today: date | None = None
) -> tuple[str, str]:
    """Load the pilot and its renewal into the TG and ML registries; return both agreement ids
    (the pilot's, the renewal's)."""
    today = today or date.today()
    for agency in ("TG", "ML"):
        with registries[agency].runtime.sessions.begin() as session:
            _registry_data(session, agency, today)
    pilot = _agreement(registries, START, END, timeout)
    seed_pilot_history(registries, pilot)
    renewal = _agreement(registries, *renewal_period(today), timeout)
    return pilot, renewal


def demo_tokens(
    nodes: Sequence[Any], agencies: Sequence[str], path: Path
) -> dict[str, dict[str, str]]:
    """admin, staff and partner tokens per agency, valid on every service of the network, written
    to `path` as {"TG": {"admin": …, "staff": …, "partner": …}, …}. Kept across restarts."""
    if path.exists():
        tokens = json.loads(path.read_text())
        if set(tokens) >= set(agencies) and all(
            _known(node, tokens[agencies[0]]["staff"]) for node in nodes
        ):
            return tokens
    tokens = {a: {role: new_token(a) for role in ("admin", "staff", "partner")} for a in agencies}
    for node in nodes:
        with node.runtime.engine.begin() as conn:
            for agency, roles in tokens.items():
                for role, token in roles.items():
                    create_token(conn, agency, Role(role), f"demo {role} of {agency}", token=token)
    write_private(path, json.dumps(tokens, indent=2) + "\n")
    return tokens


def _known(node: Any, token: str) -> bool:
    from shared.auth import hash_token
    from shared.db import api_token

    with node.runtime.engine.connect() as conn:
        return (
            conn.execute(
                select(api_token.c.id).where(api_token.c.token_hash == hash_token(token))
            ).first()
            is not None
        )


def volunteer_count(node: Any) -> int:
    with node.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Volunteer)) or 0)


def demo_accounts(nodes: Sequence[Any], path: Path) -> dict[str, dict[str, str]]:
    """One staff account per registry (dashboard sign-in), written to `path`, kept on restart."""
    import secrets

    from services.registry.adapters.orm import StaffAccount
    from services.registry.dashboard.accounts import create_account

    accounts = json.loads(path.read_text()) if path.exists() else {}
    for node in nodes:
        if node.service != "registry":
            continue
        agency = node.name.removeprefix("registry-").upper()
        email = f"staff@{agency.lower()}.example"
        with node.runtime.sessions.begin() as session:
            known = session.scalar(select(StaffAccount.id).where(StaffAccount.email == email))
            if known and agency in accounts:
                continue
            if known:
                session.execute(StaffAccount.__table__.delete().where(StaffAccount.email == email))
            password = secrets.token_urlsafe(12)
            create_account(session, email, f"Staff {agency}", "staff", password)
        accounts[agency] = {"email": email, "password": password}
    write_private(path, json.dumps(accounts, indent=2) + "\n")
    return accounts


def connect_dashboards(nodes: Sequence[Any], tokens: dict[str, dict[str, str]], host: str) -> None:
    """Each registry's dashboard reads its agency's notifications instance (delivery log)."""
    by_name = {n.name: n for n in nodes}
    for node in nodes:
        if node.service != "registry" or node.app is None:
            continue
        code = node.name.removeprefix("registry-")
        notifications = by_name.get(f"notifications-{code}")
        if notifications is None:
            continue
        options = node.app.config["DASHBOARD"]
        options["notifications_url"] = f"http://{host}:{notifications.port}"
        options["notifications_token"] = tokens[code.upper()]["staff"]


# -- the pilot's history ---------------------------------------------------------------------------
# What the pilot's evaluation had to rebuild from paper, entered as each agency's own records of
# the same missions: written on both nodes alike, without events (nothing new happened).

PILOT_START, PILOT_END = date(2017, 10, 2), date(2018, 7, 31)
# (wellbeing, integration, workload) per check-in; None: not answered
CHECK_IN_SCORES: dict[str, tuple[int, int, int] | None] = {
    "first": (4, 3, 4),
    "mid_term": (4, 4, 3),
    "final": (5, 4, 3),
}


def _pilot_pairs(registries: dict[str, Any], agreement_id: str) -> list[dict[str, Any]]:
    from services.registry.adapters.orm import Placement

    pairs = []
    for sending, host, count in (("TG", "ML", 4), ("ML", "TG", 2)):
        with registries[sending].runtime.sessions() as session:
            volunteers = session.scalars(
                select(Volunteer)
                .where(Volunteer.identity_number.like(f"{sending}-PILOT-%"))
                .order_by(Volunteer.identity_number)
            ).all()[:count]
        with registries[host].runtime.sessions() as session:
            places = session.scalars(
                select(Placement)
                .where(Placement.start == PILOT_START, Placement.agency == host)
                .order_by(Placement.title)
            ).all()[:count]
            facts = {}
            for p in places:
                from services.registry.adapters.orm import HostOrganisation

                org = session.get(HostOrganisation, p.host_organisation_id)
                facts[p.id] = {
                    "title": p.title,
                    "city": p.city,
                    "host_organisation": org.name if org else "",
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                }
        for n, (v, p) in enumerate(zip(volunteers, places, strict=True), start=1):
            pairs.append(
                {
                    "match_id": f"m-pilot-{sending.lower()}-{n}",
                    "agreement_id": agreement_id,
                    "volunteer_id": v.id,
                    "placement_id": p.id,
                    "sending_agency": sending,
                    "host_agency": host,
                    "placement": facts[p.id],
                    "n": n,
                }
            )
    return pairs


def _history_rows(pair: dict[str, Any]) -> tuple[Any, ...]:
    from services.registry.adapters.orm import Incident, Match, Mobility
    from services.registry.domain.check_ins import Schedule
    from services.registry.domain.checklists import default_items

    at = datetime(2017, 9, 15, tzinfo=UTC)
    sending, host = pair["sending_agency"], pair["host_agency"]
    match = Match(
        id=pair["match_id"],
        agreement_id=pair["agreement_id"],
        volunteer_id=pair["volunteer_id"],
        placement_id=pair["placement_id"],
        sending_agency=sending,
        host_agency=host,
        score=0.8,
        criteria=[],
        decisions={a: {"decision": "accepted", "reason": None} for a in (sending, host)},
        status="confirmed",
        created_at=at,
        updated_at=at,
    )
    due = Schedule().due_dates(PILOT_START, PILOT_END)
    check_ins = []
    for code, scores in CHECK_IN_SCORES.items():
        for respondent in ("host_agency", "volunteer"):
            if (pair["n"], code, respondent) == (3, "mid_term", "volunteer"):
                continue  # one answer the pilot never got
            w, i, load = scores or (3, 3, 3)
            check_ins.append(
                {
                    "check_in": code,
                    "respondent": respondent,
                    "on": due[code].isoformat(),
                    "wellbeing": w,
                    "integration": i,
                    "workload": load,
                    "issues": code == "first" and pair["n"] == 1 and sending == "TG",
                    "note": None,
                }
            )
    reports = [
        {"kind": kind, "on": day.isoformat(), "by": host, "summary": None}
        for kind, day in (
            ("start", PILOT_START + timedelta(days=8)),
            ("mid_term", due["mid_term"]),
            ("end", PILOT_END - timedelta(days=6)),
        )
    ]
    reviews = [
        {"respondent": r, "on": "2018-08-15", "overall": 4, "objectives": 4, "support": 3}
        | {"comments": None}
        for r in ("volunteer", "host_organisation", "sending_agency", "host_agency")
    ]
    mobility = Mobility(
        id=f"mob-{pair['match_id'].removeprefix('m-')}",
        match_id=pair["match_id"],
        agreement_id=pair["agreement_id"],
        sending_agency=sending,
        host_agency=host,
        status="completed",
        started_on=PILOT_START,
        ended_on=PILOT_END,
        planned_end=PILOT_END,
        reports=reports,
        checklist={
            "version": 1,
            "items": [i | {"done": True, "on": "2017-09-25"} for i in default_items()],
        },
        check_ins=check_ins,
        follow_ups_sent=[],
        reviews=reviews,
        placement=pair["placement"],
        updated_at=datetime(2018, 8, 15, tzinfo=UTC),
    )
    rows: list[Any] = [match, mobility]
    if (sending, pair["n"]) == ("TG", 1):
        rows.append(
            Incident(
                id="inc-pilot-1",
                mobility_id=mobility.id,
                match_id=match.id,
                agreement_id=pair["agreement_id"],
                sending_agency=sending,
                host_agency=host,
                reported_by=host,
                reported_on=date(2017, 12, 4),
                severity="medium",
                category="health",
                owner=host,
                status="resolved",
                resolved_on=date(2017, 12, 20),
                version=2,
                updated_at=datetime(2017, 12, 20, tzinfo=UTC),
            )
        )
    return tuple(rows)


def seed_pilot_history(registries: dict[str, Any], agreement_id: str) -> None:
    """The pilot's six missions, completed, with their check-ins, reports, reviews and one
    incident, on both nodes; its volunteers registered in June 2017 and completed."""
    pairs = _pilot_pairs(registries, agreement_id)
    for agency in ("TG", "ML"):
        with registries[agency].runtime.sessions.begin() as session:
            for pair in pairs:
                for row in _history_rows(pair):
                    session.add(row)
                volunteer = session.get(Volunteer, pair["volunteer_id"])
                if volunteer is not None:
                    volunteer.status = "completed"
                    volunteer.created_at = datetime(2017, 6, 1, tzinfo=UTC)
