"""What every dashboard page reaches: the node, the database, the signed-in account, and the
blueprint of an area with the sign-in guard every area shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from services.registry import imports
from services.registry.adapters.orm import StaffAccount
from services.registry.dashboard.accounts.store import session_account
from services.registry.dashboard.i18n import _
from services.registry.dashboard.messages import say_code
from services.registry.dependencies import dependencies
from services.registry.handlers import Node
from shared.runtime import current_runtime

# A form shown again with its errors answers 200: the page is what the person asked for, and
# browsers report 4xx documents as console errors. The errors are in the page, beside the fields.
FORM_STATUS = 200

OPEN_ENDPOINTS = {"dashboard.accounts.login", "dashboard.accounts.language", "dashboard.static"}


def node() -> Node:
    return dependencies().node


def sessions() -> Any:
    return current_runtime().sessions


def account() -> StaffAccount | None:
    return getattr(g, "account", None)


def now() -> datetime:
    return datetime.now(UTC)


def staff_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages that change data: admin and staff accounts (every account today)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """Only same-site paths after sign-in: never an absolute URL an attacker chose."""
    if not target:
        return url_for("dashboard.overview.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.overview.overview")
    return target


def require_sign_in() -> Any:
    """Before every dashboard request: CSRF on POST, the account of the session cookie, and
    the sign-in page for anyone without one (but on the open endpoints)."""
    if request.method == "POST":
        current_app.extensions["vir.csrf"].protect()
    sid = session.get("sid")
    if sid:
        with sessions()() as s:
            found = session_account(s, sid)
        if found is not None:
            g.account = found
        else:  # signed out (here or from a copy of this cookie), or unknown
            session.clear()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if account() is None:
        asked = request.full_path if request.query_string else request.path
        return redirect(url_for("dashboard.accounts.login", next=asked))
    return None


def too_large(exc: RequestEntityTooLarge) -> Any:
    """A body beyond the dashboard's limit, refused while it is read."""
    message = say_code("import.too_large", {"size": imports.MAX_FILE_BYTES // (1024 * 1024)})
    return render_template("error.html", title=_("File too large"), message=message), 413


def area(name: str, import_name: str) -> Blueprint:
    """The blueprint of one area of the dashboard (nested in the shell's: "dashboard.<name>."),
    behind the sign-in the shell checks."""
    bp = Blueprint(name, import_name)
    bp.register_error_handler(RequestEntityTooLarge, too_large)
    return bp
