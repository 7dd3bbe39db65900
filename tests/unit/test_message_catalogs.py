"""Every message code renders in French and English: from the catalogs (render_message), through
the dashboard (its parameter labels), and as an API error carries it (code + params)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask, g

from services.matching.domain import messages as matching_messages
from services.matching.domain.messages import EXPLANATIONS
from services.registry.dashboard.messages import say_code
from services.registry.domain import messages as registry_messages
from services.registry.domain.messages import REGISTRY
from shared import validation_messages
from shared.codes import LIST_NAMES, reason_label
from shared.messages import CATALOGS, UNTRANSLATED, Codes, Count, Message, render_message
from shared.validation_messages import VALIDATION, coded_errors

# The code registries: one per origin of messages (adding one means listing it here); the lists
# of shared/codes.py (reasons, checklist items, incidents) by their name in the catalogs.
REASONS = Codes(
    {
        f"{name}.{code}": english
        for name, labels in LIST_NAMES.items()
        for code, english in labels.items()
    }
)
REGISTRIES: dict[str, Codes] = {
    "registry": REGISTRY,
    "validation": VALIDATION,
    "matching": EXPLANATIONS,
    "reasons": REASONS,
}
DEFINITIONS = {
    Path(module.__file__).resolve()  # type: ignore[arg-type]
    for module in (registry_messages, validation_messages, matching_messages)
}
ALL_CODES = sorted((code, name) for name, codes in REGISTRIES.items() for code in codes)
PARAM = re.compile(r"%\((\w+)\)")  # the placeholders of a template, to fill a sample message


def sample(template: str) -> dict[str, object]:
    """A value for each placeholder: counts for the plural's `num`, words otherwise."""
    return {name: 3 if name == "num" else f"<{name}>" for name in PARAM.findall(template)}


def catalog_entries(language: str, name: str) -> dict[str, object]:
    with (CATALOGS / language / "LC_MESSAGES" / f"{name}.po").open("rb") as po:
        return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in read_po(po) if m.id}


def test_codes_are_unique_across_registries_and_well_formed():
    seen: dict[str, str] = {}
    for name, codes in REGISTRIES.items():
        for code in codes:
            assert re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", code), code
            assert code not in seen, f"{code} is in {seen.get(code)} and {name}"
            seen[code] = name


@pytest.mark.parametrize("language", ["fr", "en"])
def test_each_registry_has_its_catalog_with_every_code_and_nothing_else(language):
    for name, codes in REGISTRIES.items():
        entries = catalog_entries(language, name)
        extra = set(entries) - set(codes) - {UNTRANSLATED}
        assert sorted(set(codes) - set(entries)) == [], (language, name)
        assert sorted(extra) == [], (language, name)


@pytest.mark.parametrize(("code", "registry"), ALL_CODES)
def test_every_code_renders_in_french_and_english_with_its_parameters(code, registry):
    template = REGISTRIES[registry][code]
    params = sample(template)
    english = render_message(code, params, "en")
    french = render_message(code, params, "fr")
    for text in (english, french):
        assert text and text != code and "%(" not in text
        # every parameter the English text carries is said in the French one too
        for value in params.values():
            if str(value) in str(Message(code, template, params)):
                assert str(value) in french, (code, french)
    assert french != english or code == UNTRANSLATED, (code, french)


@pytest.mark.parametrize(("code", "registry"), ALL_CODES)
def test_the_dashboard_renders_every_code_in_the_language_of_the_page(code, registry):
    app = Flask(__name__)
    params = sample(REGISTRIES[registry][code])
    texts = {}
    for language in ("fr", "en"):
        with app.test_request_context("/"):
            g.lang = language
            texts[language] = say_code(code, params)
    assert texts["fr"] and texts["en"] and texts["fr"] != texts["en"]
    assert "%(" not in texts["fr"] + texts["en"]


def test_a_message_is_its_english_text_and_carries_its_code():
    message = REGISTRY.message("match.closed", status="confirmed")
    assert message == "This proposal is confirmed: it can no longer be decided."
    assert message.as_dict() == {
        "code": "match.closed",
        "params": {"status": "confirmed"},
        "message": "This proposal is confirmed: it can no longer be decided.",
    }
    assert render_message(message.code, message.params, "fr").startswith("Cette proposition est")


def test_a_count_reads_with_its_separator_in_english_and_in_french():
    message = REGISTRY.message("import.too_many_rows", rows=Count(20_000))
    assert "more than 20,000 data rows" in message
    app = Flask(__name__)
    with app.test_request_context("/"):
        g.lang = "fr"
        assert "20\u202f000" in say_code(message.code, message.params)


def test_an_unknown_code_shows_its_text_as_it_is():
    assert render_message("nothing.like.this", {"text": "as typed"}, "fr") == "as typed"
    assert render_message(UNTRANSLATED, {"text": "as typed"}, "en") == "as typed"


def test_a_plain_function_validator_gives_its_text_uncoded_and_known_texts_their_code():
    from marshmallow import Schema, ValidationError, fields, validate

    def mandatory(value: str) -> None:
        if value == "placement":
            raise ValidationError("'placement' messages are mandatory.")

    class Choice(Schema):
        category = fields.String(required=True, validate=[mandatory, validate.Length(max=5)])

    class Choices(Schema):
        items = fields.List(fields.Nested(Choice))

    schema = Choices()
    try:
        schema.load({"items": [{"category": "placement"}, {"category": "too long"}, {}]})
    except ValidationError as exc:
        coded = coded_errors(schema, exc.messages)
    first, second, third = (coded["items"][i]["category"][0] for i in range(3))
    assert (first.code, first.params) == (
        UNTRANSLATED,
        {"text": "'placement' messages are mandatory."},
    )
    assert (second.code, second.params) == ("field.length_max", {"max": 5})
    assert third.code == "field.required"


def test_every_code_the_code_names_is_listed_and_every_listed_code_is_used():
    """Codes named literally in services/ and shared/ exist in a registry; a registry code no
    source names (literally, or by the prefix of a code built from a choice) is dead."""
    root = Path(__file__).resolve().parents[2]
    listed = {code for codes in REGISTRIES.values() for code in codes} - set(REASONS)
    named: set[str] = set()
    used: set[str] = set()
    prefixes: set[str] = set()
    call = re.compile(r'(?:\bmsg|\bsay|\.message|say_code)\(\s*(f?)"([^"]+)"')
    built = re.compile(r'code = f"([a-z_.]+)\{')
    for path in [*(root / "services").rglob("*.py"), *(root / "shared").rglob("*.py")]:
        text = path.read_text()
        for is_f, code in call.findall(text):
            if is_f:
                prefixes.add(code.split("{")[0])
            else:
                named.add(code)
        prefixes.update(built.findall(text))
        if path not in DEFINITIONS:  # where the codes are listed is not where they are used
            used.update(code for code in listed if f'"{code}"' in text)
    assert sorted(named - listed) == []
    unused = {c for c in listed - used if not any(c.startswith(p) for p in prefixes)}
    # marshmallow's own messages are coded from its fields and validators, never named
    assert sorted(c for c in unused if not c.startswith("field.")) == []


@pytest.mark.parametrize("name", sorted(LIST_NAMES))
def test_reason_labels_are_rendered_from_the_catalogs_in_both_languages(name):
    labels = LIST_NAMES[name]
    for code, english in labels.items():
        assert reason_label(labels, code, "en") == english
        french = reason_label(labels, code, "fr")
        assert french and french != f"{name}.{code}"
    assert reason_label(labels, "no-such-code", "fr") == "no-such-code"
