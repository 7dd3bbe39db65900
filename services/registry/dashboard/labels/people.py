"""Labels of the people's and places' codes (statuses, genders, education, consent, reasons),
English message ids translated where shown (catalog people.po)."""

from __future__ import annotations

from collections.abc import Mapping

from babel import Locale

from services.registry.dashboard.i18n import N_, _, lang
from services.registry.domain.volunteers import STATUSES, WITHDRAW_REASONS
from services.registry.schemas import CONSENT_PURPOSES, EDUCATION, GENDERS

STATUS_LABELS = {
    "registered": N_("registered"),
    "available": N_("available"),
    "proposed": N_("proposed for a placement"),
    "matched": N_("matched to a placement"),
    "deployed": N_("in mission"),
    "completed": N_("mission completed"),
    "withdrawn": N_("withdrawn"),
}
GENDER_LABELS = {
    "female": N_("Female"),
    "male": N_("Male"),
    "other": N_("Other"),
    "undisclosed": N_("Not disclosed"),
}
EDUCATION_LABELS = {
    "none": N_("No schooling"),
    "primary": N_("Primary school"),
    "secondary": N_("Secondary school"),
    "vocational": N_("Vocational training"),
    "bachelor": N_("Bachelor's degree"),
    "master": N_("Master's degree"),
    "doctorate": N_("Doctorate"),
}
PURPOSE_LABELS = {
    "registration": N_("Registration in the agency's register"),
    "matching": N_("Matching with placements abroad"),
    "sharing_with_host_agency": N_("Sharing the file with the host agency of a confirmed match"),
    "notifications": N_("Notifications by e-mail and SMS"),
}
REASON_LABELS = {
    "personal": N_("Personal reasons"),
    "health": N_("Health"),
    "eligibility": N_("No longer eligible"),
    "other": N_("Other"),
}
LANGUAGE_LABELS = {"fr": "Français", "en": "English"}  # each in its own language
assert set(STATUS_LABELS) == set(STATUSES) and set(GENDER_LABELS) == set(GENDERS)
assert set(EDUCATION_LABELS) == set(EDUCATION) and set(PURPOSE_LABELS) == set(CONSENT_PURPOSES)
assert set(REASON_LABELS) == set(WITHDRAW_REASONS)


def label(labels: Mapping[str, str], code: str | None) -> str:
    if code is None or code == "":
        return "—"
    return _(labels[code]) if code in labels else code


def choices(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(code, _(text)) for code, text in labels.items()]


def language_name(code: str) -> str:
    return Locale.parse(lang()).languages.get(code, code)


def country_name(code: str) -> str:
    return Locale.parse(lang()).territories.get(code, code)


def level_label(level: str) -> str:
    return _("native speaker") if level == "native" else level


def language_skills(skills: list[dict[str, str]]) -> str:
    return ", ".join(
        f"{language_name(s['code'])} ({level_label(s.get('level', ''))})" for s in skills
    )
