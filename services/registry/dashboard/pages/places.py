"""Dashboard pages: places (being written)."""

from __future__ import annotations

from flask import render_template

from services.registry.dashboard.web import _, bp


@bp.route("/places")
def places() -> str:
    return render_template("error.html", title=_("Organisations & placements"), message="…")
