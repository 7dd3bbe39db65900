"""The dashboard's shell: templates, static files, the language of each request, CSRF."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from markupsafe import Markup

from services.registry.dashboard.accounts.store import Throttle
from services.registry.dashboard.context import account, node, require_sign_in
from services.registry.dashboard.i18n import (
    LANG_COOKIE,
    _,
    fmt_date,
    fmt_number,
    gettext,
    lang,
    ngettext,
)
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of

bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/dashboard",
)
bp.before_request(require_sign_in)  # runs for every area: they are nested in this blueprint


@bp.before_app_request
def _language() -> None:
    chosen = request.cookies.get(LANG_COOKIE)
    g.lang = language_of(chosen) if chosen else DEFAULT_LANGUAGE


@bp.app_template_global()
def csrf_field() -> Any:
    return Markup(f'<input type="hidden" name="csrf_token" value="{generate_csrf()}">')


def install_shell(app: Flask, csrf: CSRFProtect) -> None:
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

    app.register_blueprint(bp)
