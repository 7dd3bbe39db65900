"""Dashboard pages: exchanges (being written)."""

from __future__ import annotations

from flask import render_template

from services.registry.dashboard.web import _, bp


@bp.route("/proposals")
def matches() -> str:
    return render_template("error.html", title=_("Proposals"), message="…")


@bp.route("/mobilities")
def mobilities() -> str:
    return render_template("error.html", title=_("Mobilities"), message="…")


@bp.route("/agreements")
def agreements() -> str:
    return render_template("error.html", title=_("Agreements"), message="…")


@bp.route("/notifications")
def notifications() -> str:
    return render_template("error.html", title=_("Notifications"), message="…")
