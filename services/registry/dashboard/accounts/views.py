"""Sign-in, sign-out and the choice of language."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, session, url_for

from services.registry.dashboard.accounts.store import authenticate, end_session, open_session
from services.registry.dashboard.context import FORM_STATUS, area, safe_next, sessions
from services.registry.dashboard.i18n import LANG_COOKIE, _
from shared.i18n import language_of

bp = area("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
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
    with sessions().begin() as s:
        end_session(s, session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.accounts.login"))


@bp.route("/language/<code>", methods=["POST"])
def language(code: str) -> Any:
    chosen = language_of(code)
    response = redirect(safe_next(request.form.get("next")))
    response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
