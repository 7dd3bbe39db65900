"""The words of every message: Jinja2 templates per message kind, in French (default) or English.

Templates live in `templates/` (`<kind>.txt.j2` sets the subject and the text part, `.html.j2`
the HTML part, `.sms.j2` the SMS). Their strings are English msgids translated by the Babel
catalogs in `translations/<lang>/LC_MESSAGES/messages.po`; the catalogs are kept as source only
and compiled in memory the first time a language is used, so no `.mo` file is ever committed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup

from services.notifications.domain.messages import Notification, Undeliverable
from shared import codes
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, load_translations

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
TRANSLATIONS = HERE / "translations"
SMS_MAX = 160  # one SMS segment of GSM-7 characters

STAFF_EVENT_TYPES = frozenset(
    {
        "match.proposed",
        "match.accepted",
        "match.confirmed",
        "match.declined",
        "match.cancelled",
        "agreement.proposed",
        "agreement.approved",
        "agreement.activated",
        "agreement.amended",
        "agreement.terminated",
        "mobility.started",
        "mobility.report_submitted",
        "mobility.completed",
        "mobility.interrupted",
        "mobility.check_in_due",
        "mobility.incident_reported",
        "mobility.incident_updated",
    }
)
SUBSCRIPTION_DISABLED = "subscription.disabled"


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    sms: str
    language: str = DEFAULT_LANGUAGE


def translations(language: str) -> Translations:
    """The language's catalog (Babel .po sources compiled in memory, once per process)."""
    return load_translations(TRANSLATIONS, language)


@functools.cache
def environment(language: str) -> Environment:
    """One environment per language: the gettext callables are installed once, never swapped."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the release: no file check at every render
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["long_date"] = lambda value: _format_date(value, "long", language)
    env.filters["short_date"] = lambda value: _format_date(value, "medium", language)
    env.filters["country"] = lambda code: _country(code, language)
    env.filters["decimal"] = lambda value: format_decimal(value, "0.00", locale=language)
    env.filters["reason"] = lambda code, event_type: codes.reason_label(
        codes.REASONS_BY_EVENT.get(event_type, {}), code, language
    )
    env.filters["code"] = lambda code, labels: codes.reason_label(
        getattr(codes, labels), code, language
    )
    env.globals["lang"] = language
    return env


def _format_date(value: Any, form: str, language: str) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_date(value, form, locale=language)


def _country(code: str | None, language: str) -> str:
    if not code:
        return ""
    return Locale.parse(language).territories.get(code.upper(), code)


def template_kind(notification: Notification) -> str:
    """Which message a notification calls for, from its event type and its recipient's kind."""
    kind, event_type = notification.recipient.kind, notification.event_type
    if event_type == SUBSCRIPTION_DISABLED or (
        kind == "partner" and {"reason", "url"} <= notification.payload.keys()
    ):
        return "subscription_disabled"
    if kind == "volunteer" and event_type == "match.confirmed":
        return "match_confirmed_volunteer"
    if kind == "volunteer" and event_type == "mobility.check_in_due":
        return "check_in_volunteer"
    if kind == "volunteer" and event_type == "volunteer.registered":
        return "volunteer_registered"
    if kind == "host_organisation" and event_type == "match.confirmed":
        return "match_confirmed_host"
    if kind == "staff" and event_type in STAFF_EVENT_TYPES:
        return "staff_event"
    raise Undeliverable(f"no message is written for {event_type} to a {kind}")


def _context(notification: Notification, language: str) -> dict[str, Any]:
    payload = notification.payload
    placement = payload.get("placement")
    links = dict(notification.links)
    return {
        "event_type": notification.event_type,
        "event": payload.get("event", {}),
        "agencies": payload.get("agencies", []),
        "placement": dict(placement) if placement else None,
        "notice": payload,  # subscription notices: {"reason", "url", ...}
        "recipient_name": notification.recipient.name or "",
        "recipient_kind": notification.recipient.kind,
        "category": notification.category,
        "mandatory": notification.mandatory,
        "unsubscribe_url": None if notification.mandatory else links.get("unsubscribe"),
        "lang": language,
    }


def _facts(env: Environment, context: dict[str, Any]) -> dict[str, Any]:
    """`context` with `facts`: the shared wordings of _facts.j2, evaluated once for all the
    parts of a message (each part importing them again was a third of an e-mail's CPU)."""
    context = {key: value for key, value in context.items() if key != "facts"}
    return {**context, "facts": env.get_template("_facts.j2").make_module(context)}


def render(notification: Notification, sms: bool = True) -> Message:
    """Subject, text, HTML and SMS of one notification, in its recipient's language (without
    `sms`, the SMS is left empty: an e-mail does not pay for it)."""
    language = language_of(notification.recipient.language)
    env = environment(language)
    kind = template_kind(notification)
    context = _facts(env, _context(notification, language))
    text_module = env.get_template(f"{kind}.txt.j2").make_module(context)
    subject = " ".join(str(vars(text_module).get("subject", "VIR Exchange")).split())
    text = str(text_module).strip() + "\n"
    html = env.get_template(f"{kind}.html.j2").render(context, subject=subject)
    short = _fit_sms(env.get_template(f"{kind}.sms.j2"), context) if sms else ""
    return Message(subject=subject, text=text, html=html, sms=short, language=language)


def unsubscribe_page(
    state: str,
    channel: str,
    category: str,
    undo_token: str | None = None,
    undo_action: str = "/unsubscribe/undo",
) -> str:
    """The page an unsubscribe link opens: French first, then English, on one page.

    `state` is "unsubscribed", "resubscribed", "mandatory" or "invalid"; with `undo_token` the
    page offers a button that subscribes again (a link scanner that opened the link by mistake
    can thus be undone by the person)."""
    sections, headings, labels = [], [], []
    for language in LANGUAGES:
        module = (
            environment(language)
            .get_template("unsubscribe_section.html.j2")
            .make_module({"state": state, "channel": channel, "category": category})
        )
        sections.append(Markup(str(module)))
        exported = vars(module)  # the template's top-level {% set %} variables
        headings.append(" ".join(str(exported["heading"]).split()))
        labels.append(str(exported["undo_label"]))
    undo = (
        {"action": undo_action, "token": undo_token, "label": " / ".join(labels)}
        if undo_token
        else None
    )
    page = environment(DEFAULT_LANGUAGE).get_template("unsubscribe_page.html.j2")
    return page.render(title=" / ".join(headings), sections=sections, undo=undo)


# -- SMS: one GSM-7 segment -----------------------------------------------------------------------

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€")
# French characters a GSM-7 phone cannot show, and typography that would force UCS-2 (70 chars).
_TRANSLITERATION = {
    "·": ".",
    "’": "'",
    "‘": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "œ": "oe",
    "Œ": "OE",
    "ç": "c",
    "\u00a0": " ",
    "\u202f": " ",
}


def to_gsm7(text: str) -> str:
    """The closest text a GSM-7 SMS can carry (accents outside the alphabet dropped)."""
    out: list[str] = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENDED:
            out.append(char)
            continue
        if char in _TRANSLITERATION:
            out.append(_TRANSLITERATION[char])
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append("".join(c for c in base if c in GSM7_BASIC) or "?")
    return "".join(out)


def gsm7_length(text: str) -> int:
    """Septets used: characters of the extension table take two."""
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


def _render_sms(template: Template, context: dict[str, Any]) -> str:
    return to_gsm7(re.sub(r"\s+", " ", template.render(context)).strip())


def _fit_sms(template: Template, context: dict[str, Any]) -> str:
    """Render the SMS; when too long, shorten the placement title, the only long free text."""
    sms = _render_sms(template, context)
    placement: dict[str, Any] = context.get("placement") or {}
    title = to_gsm7(placement.get("title") or "")
    while gsm7_length(sms) > SMS_MAX and len(title) > 12:
        over = gsm7_length(sms) - SMS_MAX
        title = title[: max(9, len(title) - over - 3)].rstrip(" ,.-")
        shorter = {**placement, "title": title + "..."}
        sms = _render_sms(template, _facts(template.environment, {**context, "placement": shorter}))
    if gsm7_length(sms) > SMS_MAX:
        while gsm7_length(sms) > SMS_MAX - 3:
            sms = sms[:-1]
        sms = sms.rstrip() + "..."
    return sms
