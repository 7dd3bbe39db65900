"""The registry service's settings: the only module of the service that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.settings import Settings, SettingsError, load

if TYPE_CHECKING:
    from services.registry.domain.check_ins import Policy, Schedule

SERVICE = "registry"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    settings = load(SERVICE, os.environ if environ is None else environ)
    if not settings.agency_code:
        raise SettingsError("AGENCY_CODE is required for a registry node (e.g. AGENCY_CODE=TG)")
    return settings


def dashboard_options(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """DASHBOARD_SECRET_KEY signs session cookies (kept under VIR_VAR_DIR when unset);
    DASHBOARD_SECURE_COOKIES=true when the dashboard is served over HTTPS;
    DASHBOARD_NOTIFICATIONS_URL and _TOKEN: the agency's notifications instance (delivery log)."""
    from pathlib import Path

    env = os.environ if environ is None else environ
    return {
        "secret_key": env.get("DASHBOARD_SECRET_KEY") or None,
        "secure_cookies": env.get("DASHBOARD_SECURE_COOKIES", "false").lower() == "true",
        "var_dir": Path(env.get("VIR_VAR_DIR", "var")),
        "notifications_url": env.get("DASHBOARD_NOTIFICATIONS_URL") or None,
        "notifications_token": env.get("DASHBOARD_NOTIFICATIONS_TOKEN") or None,
    }


@dataclass(frozen=True)
class FollowUpSettings:
    schedule: Schedule  # when the check-ins fall due
    policy: Policy  # when reminders and overdue alerts go out
    link_secret: str | None  # signs the volunteers' links (the dashboard's secret when None)
    public_url: str  # where those links point
    interval: float  # seconds between two looks for reminders


def follow_up_options(environ: Mapping[str, str] | None = None) -> FollowUpSettings:
    """Check-ins are a local setting of each node (see domain/check_ins.py for why):
    CHECK_IN_FIRST_AFTER_DAYS (14) and CHECK_IN_FINAL_BEFORE_DAYS (14) place the first and final
    check-ins (the mid-term one is half-way); CHECK_IN_REMIND_BEFORE_DAYS (3) and
    CHECK_IN_REMIND_AFTER_DAYS (2) time the reminders; CHECK_IN_OVERDUE_DAYS (7) the alert to
    both agencies' staff. CHECK_IN_LINK_SECRET signs the volunteers' links (the dashboard's
    secret when unset); REGISTRY_PUBLIC_URL is where those links point;
    FOLLOW_UP_INTERVAL_SECONDS (3600) how often the reminders are looked for."""
    from services.registry.domain.check_ins import Policy, Schedule

    env = os.environ if environ is None else environ

    def days(name: str, default: int) -> int:
        value = int(env.get(name, default))
        if value < 0:
            raise SettingsError(f"{name} must not be negative")
        return value

    return FollowUpSettings(
        schedule=Schedule(
            days("CHECK_IN_FIRST_AFTER_DAYS", 14), days("CHECK_IN_FINAL_BEFORE_DAYS", 14)
        ),
        policy=Policy(
            days("CHECK_IN_REMIND_BEFORE_DAYS", 3),
            days("CHECK_IN_REMIND_AFTER_DAYS", 2),
            days("CHECK_IN_OVERDUE_DAYS", 7),
        ),
        link_secret=env.get("CHECK_IN_LINK_SECRET") or None,
        public_url=env.get("REGISTRY_PUBLIC_URL") or "http://localhost:8001",
        interval=float(env.get("FOLLOW_UP_INTERVAL_SECONDS", 3600)),
    )
