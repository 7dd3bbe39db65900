"""Dashboard pages for volunteers, their bulk import, host organisations and placements: a signed-in
staff member on a TG registry node backed by a real PostgreSQL database."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from sqlalchemy import event, select

from services.registry import dashboard, handlers, imports
from services.registry.adapters.orm import HostOrganisation, Placement, Volunteer
from services.registry.dashboard.accounts import create_account
from services.registry.dashboard.messages import say, say_code
from services.registry.dependencies import dependencies
from services.registry.domain.messages import msg
from services.registry.schemas import VolunteerIn
from shared.messages import Count, untranslated
from shared.validation_messages import VALIDATION
from tests.support.infra import wait_until
from tests.support.registry import RegistryNode

pytestmark = pytest.mark.integration

DASHBOARD = Path(dashboard.__file__).resolve().parent
EMAIL, PASSWORD = "ama@anvt.tg", "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- helpers -------------------------------------------------------------------------------------


def csrf(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def signed_in(tg: RegistryNode) -> FlaskClient:
    with tg.runtime.sessions.begin() as session:
        create_account(session, EMAIL, "Ama Mensah", "staff", PASSWORD)
    client = tg.client()
    page = client.get("/login")
    answer = client.post(
        "/login", data={"csrf_token": csrf(page.text), "email": EMAIL, "password": PASSWORD}
    )
    assert answer.status_code == 302, answer.text
    return client


def post_from(client: FlaskClient, page: str, action: str, data: dict[str, Any], **kw: Any):
    """Open `page`, take its CSRF token, and post the form to `action`."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    return client.post(action, data={"csrf_token": csrf(shown.text), **data}, **kw)


def field_error(html: str, field: str) -> str:
    """The error shown beside a field, checking the field points to it."""
    found = re.search(rf'<p class="field-error" id="err-{field}">(.*?)</p>', html, re.S)
    assert found, f"no error beside {field}"
    control = re.search(rf'<(input|select|textarea|fieldset)[^>]*id="{field}"[^>]*>', html)
    assert control, f"no control {field}"
    assert f"err-{field}" in control.group(0)  # aria-describedby
    if control.group(1) != "fieldset":
        assert 'aria-invalid="true"' in control.group(0)
    return unescape(re.sub(r"\s+", " ", found.group(1))).strip()


def registration(**overrides: str | list[str]) -> dict[str, Any]:
    form: dict[str, Any] = {
        "first_name": "Kossi",
        "last_name": "Agbeko",
        "date_of_birth": "02/04/1995",
        "gender": "male",
        "nationality": "tg",
        "identity_number": "TG-123456",
        "email": "kossi@example.org",
        "phone": "+228 90 11 22 33",
        "preferred_language": "fr",
        "languages": "fr:native, ee:b2",
        "skills": "public health, first aid",
        "domains": "health",
        "education_level": "master",
        "available_from": "01/09/2027",
        "available_until": "31/08/2028",
        "preferred_countries": "ML, ne",
        "consent_purposes": ["registration", "matching"],
        "consent_given_at": "2027-06-01T10:30",
        "notes": "",
    }
    form.update(overrides)
    return form


def add_volunteers(tg: RegistryNode, count: int, **varying: Any) -> list[str]:
    """`count` volunteers registered through the handler; `varying[k](n)` sets field k."""
    ids = []
    schema = VolunteerIn()
    with tg.runtime.sessions.begin() as session:
        for n in range(count):
            payload = {
                "first_name": f"Afi{n}",
                "last_name": f"Dossou{n:03d}",
                "date_of_birth": "1996-01-15",
                "gender": "female",
                "nationality": "TG",
                "identity_number": f"TG-{n:06d}",
                "consent": {"given_at": "2027-01-01T00:00:00Z", "purposes": ["registration"]},
                "skills": ["teaching"],
                "languages": [{"code": "fr", "level": "native"}],
            }
            payload.update({k: f(n) for k, f in varying.items()})
            ids.append(
                handlers.register_volunteer(
                    session, dependencies(tg.runtime).node, schema.load(payload)
                ).id
            )
    return ids


def volunteer(tg: RegistryNode, volunteer_id: str) -> Volunteer:
    with tg.runtime.sessions() as session:
        return session.get_one(Volunteer, volunteer_id)


# -- sign-in and CSRF ----------------------------------------------------------------------------


def test_every_page_needs_a_signed_in_account(tg):
    client = tg.client()
    for path in (
        "/volunteers",
        "/volunteers/new",
        "/volunteers/vol-x",
        "/volunteers/import",
        "/volunteers/import/imp-x",
        "/volunteers/import/imp-x.json",
        "/places",
    ):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/login?next="), path


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(tg):
    client = signed_in(tg)
    answer = client.post("/volunteers/new", data=registration())
    assert answer.status_code == 400
    assert "Échec du contrôle de sécurité" in answer.text
    assert tg.volunteer_count() == 0
    [volunteer_id] = add_volunteers(tg, 1)
    answer = client.post(f"/volunteers/{volunteer_id}/withdraw", data={"reason": "health"})
    assert answer.status_code == 400
    answer = client.post(f"/volunteers/{volunteer_id}/edit", data={"skills": "x"})
    assert answer.status_code == 400
    assert volunteer(tg, volunteer_id).status == "registered"
    assert volunteer(tg, volunteer_id).skills == ["teaching"]
    assert client.post("/places/organisations", data={"name": "X"}).status_code == 400
    assert tg.outbox_count() == 1  # the registration made here, nothing else


# -- register ------------------------------------------------------------------------------------


def test_an_invalid_date_is_shown_in_french_beside_its_field_and_nothing_is_stored(tg):
    client = signed_in(tg)
    form = client.get("/volunteers/new")
    assert form.status_code == 200
    assert '<html lang="fr">' in form.text
    assert 'name="consent_given_at" type="datetime-local" value="20' in form.text  # now
    answer = post_from(
        client, "/volunteers/new", "/volunteers/new", registration(date_of_birth="31/02/2027")
    )
    assert answer.status_code == 200  # shown again with its errors
    assert field_error(answer.text, "date_of_birth") == "Date non valide."
    assert 'value="Kossi"' in answer.text  # what was typed is kept
    assert 'value="31/02/2027"' in answer.text
    assert 'class="error-summary" role="alert"' in answer.text
    assert tg.volunteer_count() == 0
    assert tg.outbox_count("volunteer.registered") == 0


def test_every_field_error_is_shown_beside_its_field(tg):
    client = signed_in(tg)
    answer = post_from(
        client,
        "/volunteers/new",
        "/volunteers/new",
        registration(
            first_name="",
            gender="",
            nationality="XX",
            email="not-an-address",
            languages="fr:native, xx:B2, ee",
            available_from="01/09/2028",
            available_until="01/09/2027",
            consent_purposes=[],
        ),
    )
    assert answer.status_code == 200  # shown again with its errors
    html = answer.text
    assert field_error(html, "first_name") == "Ce champ est obligatoire."
    assert field_error(html, "gender") == "Ce champ est obligatoire."
    assert field_error(html, "nationality") == "Code de pays ISO 3166 inconnu : 'XX'."
    assert field_error(html, "email") == "Adresse e-mail non valide."
    languages = field_error(html, "languages")
    assert "xx:B2 : Code de langue ISO 639 inconnu : 'xx'." in languages
    assert "ee : indiquez le niveau après deux-points" in languages
    assert field_error(html, "available_until") == (
        "Ne doit pas précéder le début de la disponibilité."
    )
    assert field_error(html, "consent_purposes") == "Ce champ est obligatoire."
    assert tg.volunteer_count() == 0


def test_a_valid_registration_is_stored_and_announced(tg):
    client = signed_in(tg)
    answer = post_from(client, "/volunteers/new", "/volunteers/new", registration())
    assert answer.status_code == 302, answer.text
    volunteer_id = answer.headers["Location"].rsplit("/", 1)[-1]
    stored = volunteer(tg, volunteer_id)
    assert (stored.first_name, stored.nationality, stored.status) == ("Kossi", "TG", "available")
    assert stored.date_of_birth.isoformat() == "1995-04-02"
    assert stored.languages == [{"code": "fr", "level": "native"}, {"code": "ee", "level": "B2"}]
    assert stored.skills == ["public health", "first aid"]
    assert stored.preferred_countries == ["ML", "NE"]
    assert stored.consent_purposes == ["registration", "matching"]
    assert stored.consent_given_at.isoformat().startswith("2027-06-01T10:30:00")
    assert tg.outbox_count("volunteer.registered") == 1

    detail = client.get(answer.headers["Location"])
    assert "L'inscription de Kossi Agbeko est enregistrée." in unescape(detail.text)
    assert "2 avril 1995" in detail.text  # dates per language
    assert "éwé (B2)" in detail.text
    assert "Mali (ML)" in detail.text

    again = post_from(client, "/volunteers/new", "/volunteers/new", registration())
    assert again.status_code == 200  # shown again with its errors
    assert field_error(again.text, "identity_number").startswith(
        "Un volontaire est déjà inscrit avec ce numéro de pièce d'identité (vol-"
    )
    assert tg.volunteer_count() == 1


# -- detail, edit, withdraw ----------------------------------------------------------------------


def test_edit_then_withdraw(tg):
    client = signed_in(tg)
    [volunteer_id] = add_volunteers(tg, 1)
    page = f"/volunteers/{volunteer_id}"
    shown = client.get(page)
    assert 'name="skills" type="text" value="teaching"' in shown.text
    assert 'name="languages" type="text" value="fr:native"' in shown.text

    refused = post_from(
        client,
        page,
        f"{page}/edit",
        {"available_from": "01/09/2028", "available_until": "01/09/2027", "skills": "x"},
    )
    assert refused.status_code == 200  # shown again with its errors
    assert field_error(refused.text, "available_until").startswith("Ne doit pas précéder")
    assert volunteer(tg, volunteer_id).skills == ["teaching"]

    values = {
        "email": "afi@example.org",
        "phone": "",
        "preferred_language": "en",
        "languages": "fr:native; ee:C1",
        "skills": "teaching; reading, writing",
        "domains": "education",
        "education_level": "bachelor",
        "available_from": "01/10/2027",
        "available_until": "30/06/2028",
        "preferred_countries": "ML",
        "notes": "Prefers Sikasso.",
    }
    saved = post_from(client, page, f"{page}/edit", values)
    assert saved.status_code == 302
    stored = volunteer(tg, volunteer_id)
    assert stored.skills == ["teaching", "reading, writing"]
    assert stored.languages[1] == {"code": "ee", "level": "C1"}
    assert stored.status == "available"  # the handler's rule: a window makes one available
    assert stored.preferred_language == "en"
    assert tg.outbox_count("volunteer.updated") == 1
    shown = client.get(page)
    assert "Les modifications sont enregistrées." in shown.text
    assert 'value="teaching; reading, writing"' in shown.text  # reads back as the same items

    unchanged = post_from(client, page, f"{page}/edit", values)
    assert unchanged.status_code == 302
    assert tg.outbox_count("volunteer.updated") == 1  # nothing changed, nothing announced

    no_reason = post_from(client, page, f"{page}/withdraw", {"reason": ""})
    assert no_reason.status_code == 200  # shown again with its errors
    assert field_error(no_reason.text, "w-reason") == "Ce champ est obligatoire."
    withdrawn = post_from(client, page, f"{page}/withdraw", {"reason": "health"})
    assert withdrawn.status_code == 302
    assert volunteer(tg, volunteer_id).status == "withdrawn"
    assert volunteer(tg, volunteer_id).withdrawn_reason == "health"
    assert tg.outbox_count("volunteer.withdrawn") == 1
    shown = client.get(page)
    assert "Retiré du programme. Motif : Santé." in shown.text
    assert f"{page}/edit" not in shown.text and f"{page}/withdraw" not in shown.text

    again = client.post(f"{page}/edit", data={"csrf_token": csrf(shown.text), "skills": "x"})
    assert again.status_code == 200  # shown again with its errors
    assert "Un volontaire retiré ne peut plus être modifié." in again.text
    assert client.get("/volunteers/vol-unknown").status_code == 404


def test_english_when_chosen_and_remembered(tg):
    client = signed_in(tg)
    chosen = post_from(client, "/volunteers", "/language/en", {"next": "/volunteers/new"})
    assert chosen.status_code == 302
    assert chosen.headers["Location"] == "/volunteers/new"
    answer = post_from(
        client, "/volunteers/new", "/volunteers/new", registration(date_of_birth="31/02/2027")
    )
    assert '<html lang="en">' in answer.text
    assert field_error(answer.text, "date_of_birth") == "Not a valid date."
    answer = post_from(client, "/volunteers/new", "/volunteers/new", registration(first_name=""))
    assert field_error(answer.text, "first_name") == "Missing data for required field."
    answer = post_from(
        client,
        "/volunteers/new",
        "/volunteers/new",
        registration(available_from="01/09/2028", available_until="01/09/2027"),
    )
    assert field_error(answer.text, "available_until") == (
        "Must not be before the start of availability."
    )
    assert "Register a volunteer" in answer.text


# -- the list ------------------------------------------------------------------------------------


def test_list_pages_and_filters(tg):
    add_volunteers(
        tg,
        60,
        skills=lambda n: ["first aid"] if n % 3 == 0 else ["teaching", "Santé publique"],
        languages=lambda n: [{"code": "ee", "level": "B2"}] if n % 4 == 0 else [],
        available_from=lambda n: "2027-09-01" if n % 2 == 0 else None,
        available_until=lambda n: "2028-08-31" if n % 2 == 0 else None,
    )
    client = signed_in(tg)
    first = client.get("/volunteers")
    assert first.status_code == 200
    assert first.text.count("data-volunteer=") == 25
    assert "60 volontaires" in first.text
    assert "Page 1 sur 3" in first.text
    assert 'href="/volunteers?page=2" rel="next"' in first.text
    assert "Dossou059" in first.text  # newest first
    last = client.get("/volunteers?page=3")
    assert last.text.count("data-volunteer=") == 10 and "Page 3 sur 3" in last.text
    assert 'rel="prev"' in last.text and 'rel="next"' not in last.text
    assert "Dossou000" in last.text
    beyond = client.get("/volunteers?page=99")
    assert "Page 3 sur 3" in beyond.text

    def count(query: str) -> int:
        html = client.get(f"/volunteers?{query}").text
        found = re.search(r'id="volunteer-count">([^<]+)<', html)
        assert found, html
        return int(re.sub(r"\D", "", found.group(1)))

    assert count("skill=First+Aid") == 20
    assert count("skill=santé+publique") == 40
    assert count("skill=first") == 0  # a whole skill, not a part of one
    assert count("language=ee") == 15
    assert count("status=available") == 30
    assert count("status=available&skill=first+aid&language=ee") == 5
    assert count("q=dossou05") == 10
    assert count("q=afi7+DOSSOU007") == 1
    assert count("q=50%25") == 0  # a LIKE wildcard typed is a character
    filtered = client.get("/volunteers?skill=teaching&page=2")
    assert 'href="/volunteers?skill=teaching&amp;page=1" rel="prev"' in filtered.text

    refused = client.get("/volunteers?language=xx&status=available")
    assert field_error(refused.text, "language") == "Code de langue ISO 639 inconnu : 'xx'."
    assert "30 volontaires" in refused.text  # the other filters still apply


def test_a_list_page_takes_a_bounded_number_of_queries(tg):
    add_volunteers(tg, 200)
    client = signed_in(tg)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        statements.append(statement)

    event.listen(tg.engine, "before_cursor_execute", record)
    try:
        answer = client.get("/volunteers?page=3&skill=teaching&language=fr&q=dossou")
    finally:
        event.remove(tg.engine, "before_cursor_execute", record)
    assert answer.status_code == 200
    assert answer.text.count("data-volunteer=") == 25
    assert "200 volontaires" in answer.text
    assert len(statements) <= 5, statements
    assert any("LIMIT" in s.upper() for s in statements)


# -- bulk import ---------------------------------------------------------------------------------


def csv_file(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    header = [imports.FRENCH_OF.get(c, c) for c in imports.COLUMNS]
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in imports.COLUMNS])
    return out.getvalue().encode("utf-8")


def import_row(n: int, **overrides: str) -> dict[str, str]:
    row = {
        "first_name": "Yawa",
        "last_name": f"Kpodar{n}",
        "date_of_birth": "12/03/1994",
        "gender": "F",
        "nationality": "TG",
        "identity_number": f"TG-IMP-{n:04d}",
        "languages": "fr:native;ee:B2",
        "skills": "nursing",
        "consent_given_at": "2027-05-01",
        "consent_purposes": "registration;matching",
    }
    row.update(overrides)
    return row


def test_import_shows_progress_to_100_and_the_rows_refused(tg):
    client = signed_in(tg)
    form = client.get("/volunteers/import")
    assert form.status_code == 200
    assert 'accept=".csv,.xlsx' in form.text and "date_naissance" in form.text
    content = csv_file(
        [
            import_row(1),
            import_row(2, date_of_birth="31/02/1994"),
            import_row(3),
            import_row(4, nationality="XX"),
            import_row(5),
        ]
    )
    answer = post_from(
        client,
        "/volunteers/import",
        "/volunteers/import",
        {"file": (io.BytesIO(content), "volontaires.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302, answer.text
    page = answer.headers["Location"]
    assert re.fullmatch(r"/volunteers/import/imp-[0-9a-f]+", page)

    shown = client.get(page)
    assert shown.status_code == 200
    assert f'data-job-url="{page}.json"' in shown.text
    assert 'role="progressbar"' in shown.text and "data-progress-label" in shown.text

    progress: dict[str, Any] = {}

    def finished() -> bool:
        progress.update(client.get(f"{page}.json").json)
        return progress["done"]

    wait_until(finished, timeout=30, what="the import to finish")
    assert progress == {"percent": 100.0, "label": "5 / 5 lignes", "done": True}

    done = client.get(page).text
    assert 'data-done="true"' in done and 'aria-valuenow="100.0"' in done
    assert "3 volontaires importés" in done and "2 lignes refusées" in done
    lines = re.findall(r'<tr data-line="(\d+)">', done)
    assert lines == ["3", "5"]
    assert "Date non valide." in done
    assert "Code de pays ISO 3166 inconnu : 'XX'." in unescape(done)
    assert tg.volunteer_count() == 3
    assert tg.outbox_count("volunteer.registered") == 3

    english = post_from(client, page, "/language/en", {"next": page})
    assert english.status_code == 302
    assert client.get(f"{page}.json").json["label"] == "5 / 5 rows"
    assert "Not a valid date." in client.get(page).text
    recent = client.get("/volunteers/import").text
    assert f'href="{page}"' in recent


def test_a_refused_file_is_explained_beside_the_file_field(tg):
    client = signed_in(tg)
    for filename, content, message in (
        ("list.txt", b"a,b\n1,2\n", "Envoyez un fichier .csv (UTF-8) ou .xlsx."),
        ("list.csv", b"prenom;nom\nAma;Mensah\n", "Colonne obligatoire manquante : date_naissance"),
        ("list.csv", csv_file([]), "Le fichier ne contient aucune ligne de données"),
    ):
        answer = post_from(
            client,
            "/volunteers/import",
            "/volunteers/import",
            {"file": (io.BytesIO(content), filename)},
            content_type="multipart/form-data",
        )
        assert answer.status_code == 200, answer.text
        assert message in field_error(answer.text, "file")
    nothing = post_from(client, "/volunteers/import", "/volunteers/import", {})
    assert field_error(nothing.text, "file") == "Choisissez un fichier .csv ou .xlsx."
    assert tg.volunteer_count() == 0
    assert client.get("/volunteers/import/imp-unknown").status_code == 404
    assert client.get("/volunteers/import/imp-unknown.json").status_code == 404


# -- host organisations and placements -----------------------------------------------------------


def test_organisations_and_placements(tg):
    client = signed_in(tg)
    empty = client.get("/places")
    assert empty.status_code == 200
    assert "Enregistrez d'abord une structure d'accueil." in unescape(empty.text)

    organisation = {"name": "CHU Kara", "city": "Kara", "domain": "health", "contact_email": ""}
    created = post_from(client, "/places", "/places/organisations", organisation)
    assert created.status_code == 302
    duplicate = post_from(client, "/places", "/places/organisations", organisation)
    assert duplicate.status_code == 200  # shown again with its errors
    assert field_error(duplicate.text, "org-name").startswith(
        "Cette structure est déjà enregistrée dans cette ville"
    )
    missing = post_from(client, "/places", "/places/organisations", {"name": "X", "city": ""})
    assert field_error(missing.text, "org-city") == "Ce champ est obligatoire."
    assert field_error(missing.text, "org-domain") == "Ce champ est obligatoire."
    with tg.runtime.sessions() as session:
        [org_id] = session.scalars(select(HostOrganisation.id)).all()

    placement = {
        "host_organisation_id": org_id,
        "title": "Infirmier·ère",
        "city": "Kara",
        "domain": "health",
        "required_skills": "nursing",
        "required_languages": "fr:B2",
        "start": "01/10/2027",
        "end": "01/09/2027",
        "slots": "2",
    }
    refused = post_from(client, "/places", "/places/placements", placement)
    assert refused.status_code == 200  # shown again with its errors
    assert field_error(refused.text, "pl-end") == "Ne doit pas précéder la date de début."
    assert tg.outbox_count("placement.published") == 0
    published = post_from(
        client, "/places", "/places/placements", {**placement, "end": "31/07/2028"}
    )
    assert published.status_code == 302
    assert tg.outbox_count("placement.published") == 1
    with tg.runtime.sessions() as session:
        stored = session.scalars(select(Placement)).one()
    assert stored.required_languages == [{"code": "fr", "level": "B2"}]
    assert stored.slots == 2

    listed = client.get("/places").text
    assert "Le poste Infirmier·ère est publié." in listed
    assert f'data-placement="{stored.id}"' in listed and "1 poste" in listed
    assert "1 oct. 2027" in listed and "ouvert" in listed

    close = f"/places/placements/{stored.id}/close"
    no_reason = post_from(client, "/places", close, {"reason": " "})
    assert no_reason.status_code == 200  # shown again with its errors
    assert field_error(no_reason.text, f"close-{stored.id}-reason") == "Ce champ est obligatoire."
    free_text = post_from(client, "/places", close, {"reason": "Budget withdrawn"})
    assert free_text.status_code == 200  # a reason is one of the codes of the list
    closed = post_from(client, "/places", close, {"reason": "funding", "note": "Budget withdrawn"})
    assert closed.status_code == 302
    assert tg.outbox_count("placement.closed") == 1
    listed = client.get("/places?status=closed").text
    assert "clôturé" in listed and "Fin du financement" in listed and close not in listed
    assert "Budget withdrawn" in listed  # the note, shown on this node only
    again = post_from(client, "/places", close, {"reason": "other"})
    assert again.status_code == 200  # shown again with its errors
    assert "Ce poste est déjà clôturé." in again.text
    assert tg.outbox_count("placement.closed") == 1


# -- the catalog ---------------------------------------------------------------------------------


def catalog(path: Path, language: str) -> dict[str, Any]:
    with path.open("rb") as po:
        return {
            m.id if isinstance(m.id, str) else m.id[0]: m.string
            for m in read_po(po, language)
            if m.id
        }


def test_the_french_catalog_translates_every_message_of_these_pages(tg):
    files = [
        *sorted((DASHBOARD / "people").glob("*.py")),
        *sorted((DASHBOARD / "places").glob("*.py")),
        DASHBOARD / "forms.py",
        DASHBOARD / "labels" / "people.py",
        *sorted((DASHBOARD / "templates" / "people").glob("*.html")),
        *sorted((DASHBOARD / "templates" / "places").glob("*.html")),
    ]
    used: set[str] = set()
    for path in files:
        method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
        for _line, message, _comments, _context in extract_from_file(
            method, str(path), keywords=DEFAULT_KEYWORDS
        ):
            used.add(message if isinstance(message, str) else message[0])
    translated: set[str] = set()
    for name in ("messages.po", "people.po"):
        with (DASHBOARD / "translations" / "fr" / "LC_MESSAGES" / name).open("rb") as po:
            for m in read_po(po, locale="fr"):
                if m.id and (m.string if isinstance(m.string, str) else all(m.string)):
                    translated.add(m.id if isinstance(m.id, str) else m.id[0])
    assert len(used) > 200
    assert sorted(used - translated) == []

    # Catalogs of a language are merged into one: a message this catalog shares with another
    # part of the interface must read the same there, or one page would change the other's.
    for language in ("fr", "en"):
        folder = DASHBOARD / "translations" / language / "LC_MESSAGES"
        entries = {name.name: catalog(name, language) for name in folder.glob("*.po")}
        mine = entries.pop("people.po")
        for name, theirs in entries.items():
            clashes = {k: (v, theirs[k]) for k, v in mine.items() if k in theirs and theirs[k] != v}
            assert clashes == {}, f"people.po and {name} translate differently"

    with tg.app.test_request_context("/volunteers"):
        assert say_code("field.not_date") == "Date non valide."
        assert say(VALIDATION.message("field.unknown_language", code="xx")) == (
            "Code de langue ISO 639 inconnu : 'xx'."
        )
        assert say(msg("import.too_many_rows", rows=Count(20_000))) == (
            "Le fichier compte plus de 20\u202f000 lignes de données : répartissez-les en "
            "plusieurs fichiers."
        )
        assert say(untranslated("Something new.")) == "Something new."


def test_a_jobs_notes_are_said_in_the_language_of_the_page(tg):
    client = signed_in(tg)
    content = csv_file([import_row(1)]).replace(b"\r\n", b";couleur\r\n", 1)
    answer = post_from(
        client,
        "/volunteers/import",
        "/volunteers/import",
        {"file": (io.BytesIO(content), "volontaires.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302, answer.text
    page = answer.headers["Location"]
    wait_until(lambda: client.get(f"{page}.json").json["done"], timeout=30)
    assert "Colonnes ignorées (inconnues) : couleur." in unescape(client.get(page).text)
    post_from(client, page, "/language/en", {"next": page})
    assert "Columns ignored (unknown): couleur." in unescape(client.get(page).text)
