"""Dashboard plumbing: the blueprint, sign-in, language, CSRF, and helpers the pages share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect

from services.registry.adapters.orm import StaffAccount
from services.registry.handlers import Node
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, load_translations

HERE = Path(__file__).resolve().parent
bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/dashboard",
)

# A form shown again with its errors answers 200: the page is what the person asked for, and
# browsers report 4xx documents as console errors. The errors are in the page, beside the fields.
FORM_STATUS = 200

OPEN_ENDPOINTS = {"dashboard.login", "dashboard.language", "dashboard.static"}
LANG_COOKIE = "vir_lang"


def gettext(message: str, **variables: Any) -> str:
    text = load_translations(HERE / "translations", lang()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = load_translations(HERE / "translations", lang()).ungettext(singular, plural, n)
    return text % ({"num": n} | variables)


_ = gettext


def lang() -> str:
    return getattr(g, "lang", DEFAULT_LANGUAGE)


def node() -> Node:
    return current_app.extensions["vir.node"]


def sessions() -> Any:
    return current_app.extensions["vir.runtime"].sessions


def account() -> StaffAccount | None:
    return getattr(g, "account", None)


def fmt_date(value: date | datetime | str | None, form: str = "medium") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return format_datetime(value, format="short", locale=lang())
    return format_date(value, format=form, locale=lang())


def fmt_number(value: float | int, percent: bool = False) -> str:
    return format_percent(value, locale=lang()) if percent else format_decimal(value, locale=lang())


def staff_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages that change data: admin and staff accounts (every account today)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """Only same-site paths after sign-in: never an absolute URL an attacker chose."""
    if not target:
        return url_for("dashboard.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.overview")
    return target


@bp.before_app_request
def _language() -> None:
    chosen = request.cookies.get(LANG_COOKIE)
    g.lang = language_of(chosen) if chosen else DEFAULT_LANGUAGE


@bp.before_request
def _require_sign_in() -> Any:
    if request.method == "POST":
        current_app.extensions["vir.csrf"].protect()
    sid = session.get("sid")
    if sid:
        from services.registry.dashboard.accounts import session_account

        with sessions()() as s:
            found = session_account(s, sid)
        if found is not None:
            g.account = found
        else:  # signed out (here or from a copy of this cookie), or unknown
            session.clear()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if account() is None:
        return redirect(
            url_for(
                "dashboard.login", next=request.full_path if request.query_string else request.path
            )
        )
    return None


@bp.app_template_global()
def csrf_field() -> Any:
    from flask_wtf.csrf import generate_csrf
    from markupsafe import Markup

    return Markup(f'<input type="hidden" name="csrf_token" value="{generate_csrf()}">')


def install(app: Flask, csrf: CSRFProtect) -> None:
    from services.registry.dashboard.accounts import Throttle

    app.extensions["vir.csrf"] = csrf
    app.extensions["vir.sign_in_throttle"] = Throttle()
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    app.jinja_env.globals.update(
        lang=lang,
        fmt_date=fmt_date,
        fmt_number=fmt_number,
        account=account,
        node=node,
        LANGUAGES=LANGUAGES,
    )

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return render_template(
            "error.html",
            title=_("Security check failed"),
            message=_(
                "The form expired or did not come from this site. "
                "Go back, reload the page and try again."
            ),
        ), 400

    from services.registry.dashboard import pages  # noqa: F401 - registers the pages on `bp`

    app.register_blueprint(bp)


# -- sign-in, sign-out, language --------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    from services.registry.dashboard.accounts import authenticate, open_session

    error = None
    email = ""
    status = FORM_STATUS
    if request.method == "POST":
        email = request.form.get("email", "")
        throttle = current_app.extensions["vir.sign_in_throttle"]
        address = request.remote_addr or "unknown"
        if throttle.blocked(address):
            error = _("Too many failed sign-ins from your address: wait a few minutes.")
            return render_template("login.html", error=error, email=email), 429
        with sessions().begin() as s:
            found, outcome = authenticate(s, email, request.form.get("password", ""))
            if found is not None:
                session.clear()
                session["sid"] = open_session(s, found)
                session.permanent = False
                response = redirect(safe_next(request.args.get("next")))
                return response
        throttle.failed(address)
        if outcome == "locked":
            error = _("Too many failed attempts: this account is locked for 15 minutes.")
        else:
            error = _("Wrong e-mail address or password.")
    return render_template("login.html", error=error, email=email), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    from services.registry.dashboard.accounts import end_session

    with sessions().begin() as s:
        end_session(s, session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.route("/language/<code>", methods=["POST"])
def language(code: str) -> Any:
    chosen = language_of(code)
    response = redirect(safe_next(request.form.get("next")))
    response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


def now() -> datetime:
    return datetime.now(UTC)
