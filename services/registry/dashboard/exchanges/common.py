"""What the exchanges' pages share: names of people and places, errors, pages of lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import flash, render_template, request
from sqlalchemy import select

from services.registry import handlers
from services.registry.adapters.orm import Placement, Volunteer
from services.registry.dashboard.context import node
from services.registry.dashboard.i18n import _
from services.registry.dashboard.messages import say
from shared.messages import leaves
from shared.validation_messages import coded_errors

PAGE_SIZE = 25


def form_errors(messages: Any, quota_keys: list[str] | None = None, schema: Any = None) -> dict:
    """marshmallow's nested messages as {form field: [messages in the page's language]}; a
    quota's errors go beside its own row."""
    out: dict[str, list[str]] = {}
    for name, value in coded_errors(schema, messages).items():
        if name == "quotas" and isinstance(value, Mapping) and quota_keys:
            for index, inner in value.items():
                position = int(index) if str(index).isdigit() else -1
                key = f"quota-{quota_keys[position]}" if 0 <= position < len(quota_keys) else name
                out.setdefault(key, []).extend(say(m) for _path, m in leaves(inner))
        else:
            out.setdefault(name, []).extend(say(m) for _path, m in leaves(value))
    return out


def flash_errors(messages: Any, schema: Any = None) -> None:
    """Each of marshmallow's messages as a flash: the field, then the message."""
    for path, message in leaves(coded_errors(schema, messages)):
        field = str(path[0]) if path else ""
        flash(f"{_(field)} : {say(message)}" if field else say(message), "error")


def refusal(exc: handlers.Refusal, fields: Iterable[str]) -> dict:
    """A handler's refusal beside the field it names, or on the form as a whole."""
    field = exc.field if exc.field in set(fields) else "_form"
    return {field: [say(exc.message)]}


def not_found() -> tuple[str, int]:
    return render_template(
        "error.html",
        title=_("Not found"),
        message=_("This page does not exist, or it concerns another agency."),
    ), 404


def _page() -> int:
    value = request.args.get("page", "1")
    return max(1, int(value)) if value.isdigit() else 1


def _pages(total: int, page: int) -> dict[str, int]:
    return {"page": page, "pages": max(1, -(-total // PAGE_SIZE)), "total": total}


# -- proposals ---------------------------------------------------------------------------------


def _names(session: Any, volunteer_ids: set[str], placement_ids: set[str]) -> tuple[dict, dict]:
    """What this node knows of the people and places: names of its own volunteers only (a host
    agency never holds a visiting volunteer's name before the dossier) and its own placements."""
    agency = node().agency
    people = {
        row.id: f"{row.first_name} {row.last_name}"
        for row in session.execute(
            select(Volunteer.id, Volunteer.first_name, Volunteer.last_name).where(
                Volunteer.agency == agency, Volunteer.id.in_(volunteer_ids or {""})
            )
        )
    }
    places = {
        row.id: f"{row.title} ({row.city})"
        for row in session.execute(
            select(Placement.id, Placement.title, Placement.city).where(
                Placement.agency == agency, Placement.id.in_(placement_ids or {""})
            )
        )
    }
    return people, places


def _described(place: dict[str, Any] | None) -> str | None:
    """The other agency's placement as matching described it: title (city), organisation."""
    if not place:
        return None
    return f"{place['title']} ({place['city']}), {place['host_organisation']}".rstrip(", ")
