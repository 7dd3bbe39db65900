"""Messages of the registry, its schemas and matching, in the page's language.

Every message arrives as a code and its parameters (shared/messages.py) and is rendered from the
catalogs under shared/translations; nothing here reads an English text for its parts. Some
parameters are codes themselves (a status, a checklist item, a language level): they are put in
as their label in the page's language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.registry.dashboard.i18n import fmt_number, lang
from services.registry.dashboard.labels.exchanges import (
    language_level,
    match_status_labels,
    mobility_status_labels,
)
from services.registry.dashboard.labels.people import STATUS_LABELS, label
from services.registry.domain.checklists import label as checklist_label
from shared.messages import ParamLabels, coded, render_message


def _number(value: Any) -> str:
    return fmt_number(int(value)) if isinstance(value, int) else str(value)


def _in(labels: Callable[[], Mapping[str, str]]) -> Callable[[Any], str]:
    return lambda code: labels().get(str(code), str(code))


# Which parameters of which codes (by prefix) are put in as labels.
_PARAM_LABELS: tuple[tuple[str, dict[str, Callable[[Any], str]]], ...] = (
    ("volunteer.", {"status": lambda code: label(STATUS_LABELS, code)}),
    ("match.", {"status": _in(match_status_labels)}),
    ("mobility.item_open", {"code": lambda code: checklist_label({"code": code}, lang())}),
    ("mobility.", {"status": _in(mobility_status_labels)}),
    ("incident.mobility_status", {"status": _in(mobility_status_labels)}),
    ("import.", {"rows": _number, "size": _number}),
    ("criterion.languages.level", {"spoken": language_level, "level": language_level}),
)


def _labels(code: str) -> ParamLabels:
    for prefix, labels in _PARAM_LABELS:
        if code.startswith(prefix):
            return labels
    return {}


def say_code(code: str, params: Mapping[str, Any] | None = None) -> str:
    """The message of `code` in the page's language."""
    return render_message(code, params, lang(), _labels(code))


def say(message: Any) -> str:
    """A Message (or a text without a code, shown as it is) in the page's language."""
    found = coded(message)
    return say_code(found.code, found.params)


def explain(criterion: Mapping[str, Any]) -> dict[str, str]:
    """A criterion's explanation in the page's language, and the language it is written in.
    A proposal from before explanations carried codes keeps its English text."""
    parts = criterion.get("messages") or []
    if not parts:
        return {"text": str(criterion.get("explanation", "")), "lang": "en"}
    text = "; ".join(say_code(str(p.get("code")), p.get("params") or {}) for p in parts)
    return {"text": text, "lang": lang()}
