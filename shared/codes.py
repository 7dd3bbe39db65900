"""Reference codes every service validates against: ISO 3166 countries and ISO 639 languages."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from babel import Locale

# CLDR also lists regions and placeholders that are not countries an agency can be from.
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}


def _codes(names: Iterable[Any]) -> list[str]:
    return [code for code in names if isinstance(code, str) and code.isalpha()]


@cache
def countries() -> frozenset[str]:
    territories = _codes(Locale("en").territories)
    return frozenset(c for c in territories if len(c) == 2 and c not in _NOT_COUNTRIES)


@cache
def languages() -> frozenset[str]:
    return frozenset(c for c in _codes(Locale("en").languages) if len(c) in (2, 3))


def is_country(code: str) -> bool:
    return code in countries()


def is_language(code: str) -> bool:
    return code in languages()


# -- reason codes --------------------------------------------------------------------------------
# Why something ended or was refused crosses borders only as one of these codes; whatever a user
# typed to explain it stays on the node where it was written (a local note, never in an event).
# Each list maps a code to its English and French labels, shown by dashboards and notifications.

Labels = dict[str, tuple[str, str]]  # code -> (English, French)

WITHDRAWAL_REASONS: Labels = {
    "personal": ("Personal reasons", "Raisons personnelles"),
    "health": ("Health", "Santé"),
    "eligibility": ("No longer eligible", "N'est plus éligible"),
    "other": ("Other", "Autre"),
}
CLOSURE_REASONS: Labels = {
    "filled": ("Filled", "Pourvu"),
    "cancelled_by_host": (
        "Cancelled by the host organisation",
        "Annulé par la structure d'accueil",
    ),
    "funding": ("Funding ended", "Fin du financement"),
    "security": ("Security", "Sécurité"),
    "other": ("Other", "Autre"),
}
DECLINE_REASONS: Labels = {
    "profile_mismatch": ("Profile does not fit the placement", "Profil inadapté à la mission"),
    "dates": ("Dates do not suit", "Dates inadaptées"),
    "languages": ("Language level insufficient", "Niveau de langue insuffisant"),
    "host_unavailable": ("Host organisation unavailable", "Structure d'accueil indisponible"),
    "volunteer_unavailable": ("Volunteer unavailable", "Volontaire indisponible"),
    "quota": ("Quota or balance of the agreement", "Quota ou équilibre de l'accord"),
    "other": ("Other", "Autre"),
}
CANCELLATION_REASONS: Labels = {
    "superseded": ("Superseded by a better plan", "Remplacée par un meilleur plan"),
    "expired": ("Expired without an answer", "Expirée sans réponse"),
    "volunteer_withdrawn": ("Volunteer withdrawn", "Volontaire retiré"),
    "placement_closed": ("Placement closed", "Mission fermée"),
    "agreement_terminated": ("Agreement terminated", "Accord résilié"),
    "agreement_ended": ("The agreement's period has ended", "La période de l'accord est terminée"),
    # A new plan withdrew an unanswered proposal because keeping it became impossible:
    "volunteer_unavailable": ("Volunteer no longer available", "Volontaire plus disponible"),
    "no_longer_eligible": (
        "No longer meets the placement's requirements",
        "Ne remplit plus les conditions de la mission",
    ),
    "placement_filled": ("Placement filled", "Mission pourvue"),
    "quota_reached": ("Quota of the agreement reached", "Quota de l'accord atteint"),
}
TERMINATION_REASONS: Labels = {
    "end_of_programme": ("End of the programme", "Fin du programme"),
    "mutual_consent": ("Mutual consent", "Consentement mutuel"),
    "breach": ("Terms not respected", "Non-respect des conditions"),
    "funding": ("Funding ended", "Fin du financement"),
    "security": ("Security", "Sécurité"),
    "other": ("Other", "Autre"),
}
INTERRUPTION_REASONS: Labels = {
    "health": ("Health", "Santé"),
    "security": ("Security", "Sécurité"),
    "conduct": ("Conduct", "Comportement"),
    "personal": ("Personal reasons", "Raisons personnelles"),
    "other": ("Other", "Autre"),
}

# The pre-departure checklist's standard items (an agency may add its own, with its own labels).
CHECKLIST_ITEMS: Labels = {
    "contract": ("Volunteering contract signed", "Contrat de volontariat signé"),
    "insurance": ("Health and repatriation insurance", "Assurance santé et rapatriement"),
    "visa": ("Visa or residence permit", "Visa ou titre de séjour"),
    "travel_booked": ("Travel booked", "Voyage réservé"),
    "pre_departure_training": ("Pre-departure training attended", "Formation au départ suivie"),
    "medical_check": ("Medical check and vaccinations", "Visite médicale et vaccinations"),
}

# Incidents during a mission: what kind, how serious, where their handling stands.
INCIDENT_CATEGORIES: Labels = {
    "health": ("Health", "Santé"),
    "security": ("Security", "Sécurité"),
    "conduct": ("Conduct", "Comportement"),
    "placement": ("Placement", "Mission"),
    "other": ("Other", "Autre"),
}
INCIDENT_SEVERITIES: Labels = {
    "low": ("Low", "Faible"),
    "medium": ("Medium", "Moyenne"),
    "high": ("High", "Élevée"),
    "critical": ("Critical", "Critique"),
}
INCIDENT_STATUSES: Labels = {
    "open": ("Open", "Ouvert"),
    "in_progress": ("Being handled", "En cours de traitement"),
    "resolved": ("Resolved", "Résolu"),
}

# Which list each event's `reason` comes from.
REASONS_BY_EVENT: dict[str, Labels] = {
    "volunteer.withdrawn": WITHDRAWAL_REASONS,
    "placement.closed": CLOSURE_REASONS,
    "match.declined": DECLINE_REASONS,
    "match.cancelled": CANCELLATION_REASONS,
    "agreement.terminated": TERMINATION_REASONS,
    "mobility.interrupted": INTERRUPTION_REASONS,
}


def reason_label(labels: Labels, code: str | None, language: str = "fr") -> str:
    """The label of a reason code in `language` (French unless "en"); an unknown code as is."""
    if not code:
        return ""
    if code not in labels:
        return code
    english, french = labels[code]
    return english if language == "en" else french


def reason_choices(labels: Labels, language: str = "fr") -> list[tuple[str, str]]:
    return [(code, reason_label(labels, code, language)) for code in labels]
