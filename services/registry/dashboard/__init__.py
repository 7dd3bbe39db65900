"""The agency dashboard: server-rendered pages for staff, French first, served by the registry.

One blueprint per area of the agency's work (accounts, overview, people, places, exchanges,
follow_up), each a package of small modules; `shell` holds the templates, static files and the
language of each request; `context`, `i18n`, `labels`, `forms` and `messages` are what pages
share; `adapters` the calls to other services.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from services.registry.dashboard import exchanges, follow_up, overview, people, places
from services.registry.dashboard.accounts import views as account_views
from services.registry.dashboard.shell import bp as shell
from services.registry.dashboard.shell import install_shell
from shared.private_files import write_private

csrf = CSRFProtect()

# The areas, nested in the shell's blueprint: endpoints read "dashboard.<area>.<page>".
for _area in (account_views.bp, overview.bp, people.bp, places.bp, exchanges.bp, follow_up.bp):
    shell.register_blueprint(_area)


def _secret_key(var_dir: Path, agency: str, configured: str | None) -> str:
    """DASHBOARD_SECRET_KEY, or one kept under var/ so every worker process signs alike."""
    if configured:
        return configured
    path = var_dir / f"dashboard-{agency.lower()}.secret"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def init_dashboard(
    app: Flask, agency: str, var_dir: Path, secret_key: str | None, secure_cookies: bool
) -> None:
    app.config.update(
        SECRET_KEY=_secret_key(var_dir, agency, secret_key),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_NAME=f"vir_{agency.lower()}_session",
        # The API authenticates with bearer tokens; only dashboard forms are checked for CSRF.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=11 * 1024 * 1024,
    )
    csrf.init_app(app)
    install_shell(app, csrf)
