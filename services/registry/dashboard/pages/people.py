"""Dashboard pages: people (being written)."""

from __future__ import annotations

from flask import render_template

from services.registry.dashboard.web import _, bp


@bp.route("/volunteers")
def volunteers() -> str:
    return render_template("error.html", title=_("Volunteers"), message="…")


@bp.route("/volunteers/import")
def import_form() -> str:
    return render_template("error.html", title=_("Import"), message="…")
