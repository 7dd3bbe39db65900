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
from vir.pilot_history import seed_pilot_history

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
