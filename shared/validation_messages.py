"""marshmallow's validation messages as codes with parameters.

marshmallow writes its messages as English text. `coded_errors(schema, messages)` gives each one
its code by what produced it, never by reading the text for its parts: a field's own fixed
messages ("Missing data for required field.") by their key, a validator's (OneOf, Length, Range)
from the validator's own settings — the choices, the bounds. A schema's own checks raise
`VALIDATION.message(...)` themselves (a `Message` is a str, marshmallow keeps it as it is).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from marshmallow import Schema, fields, validate

from shared.messages import Codes, Message, coded, untranslated

VALIDATION = Codes(
    {
        # a field's fixed messages, by marshmallow's key
        "field.required": "Missing data for required field.",
        "field.null": "Field may not be null.",
        "field.validator_failed": "Invalid value.",
        "field.unknown": "Unknown field.",
        "field.type": "Invalid input type.",
        "field.not_string": "Not a valid string.",
        "field.not_integer": "Not a valid integer.",
        "field.not_number": "Not a valid number.",
        "field.number_too_large": "Number too large.",
        "field.not_boolean": "Not a valid boolean.",
        "field.not_date": "Not a valid date.",
        "field.not_datetime": "Not a valid datetime.",
        "field.not_aware_datetime": "Not a valid aware datetime.",
        "field.not_list": "Not a valid list.",
        "field.not_mapping": "Not a valid mapping type.",
        "field.not_email": "Not a valid email address.",
        "field.not_url": "Not a valid URL.",
        "field.special_number": "Special numeric values (nan or infinity) are not permitted.",
        "field.pattern": "String does not match expected pattern.",
        # validators, with their settings
        "field.one_of": "Must be one of: %(choices)s.",
        "field.length_min": "Shorter than minimum length %(min)s.",
        "field.length_max": "Longer than maximum length %(max)s.",
        "field.length_between": "Length must be between %(min)s and %(max)s.",
        "field.length_equal": "Length must be %(equal)s.",
        "field.range_between": (
            "Must be greater than or equal to %(min)s and less than or equal to %(max)s."
        ),
        "field.range_min": "Must be greater than or equal to %(min)s.",
        "field.range_max": "Must be less than or equal to %(max)s.",
        # the project's own checks in schemas
        "field.not_phone": "Not a phone number.",
        "field.not_sha256": "Not a SHA-256 hex digest.",
        "field.unknown_country": "Unknown ISO 3166 country/agency code: %(code)r.",
        "field.unknown_agency": "Unknown ISO 3166 country/agency code: %(code)r.",
        "field.unknown_language": "Unknown ISO 639 language code: %(code)r.",
        "field.in_past": "Must be in the past.",
        "field.after_1900": "Must be after 1900.",
        "field.before_available_from": "Must not be before available_from.",
        "field.before_start": "Must not be before start.",
    }
)

# The fixed messages of fields and validators as marshmallow writes them by default, and the
# project's custom validator texts: each is one code without parameters.
_FIXED = {text: code for code, text in VALIDATION.items() if "%(" not in text}


def _validator_messages(validator: Any) -> Iterator[Message]:
    """What a validator may answer, as Messages built from its own settings."""
    if isinstance(validator, validate.OneOf):
        yield VALIDATION.message("field.one_of", choices=validator.choices_text)
    elif isinstance(validator, validate.Length):
        low, high, equal = validator.min, validator.max, validator.equal
        if equal is not None:
            yield VALIDATION.message("field.length_equal", equal=equal)
        if low is not None and high is not None:
            yield VALIDATION.message("field.length_between", min=low, max=high)
        elif low is not None:
            yield VALIDATION.message("field.length_min", min=low)
        elif high is not None:
            yield VALIDATION.message("field.length_max", max=high)
    elif isinstance(validator, validate.Range) and validator.min_inclusive:
        low, high = validator.min, validator.max
        if low is not None and high is not None and validator.max_inclusive:
            yield VALIDATION.message("field.range_between", min=low, max=high)
        elif low is not None and high is None:
            yield VALIDATION.message("field.range_min", min=low)
    elif (
        isinstance(validator, validate.Range)
        and validator.min is None
        and validator.max is not None
        and validator.max_inclusive
    ):
        yield VALIDATION.message("field.range_max", max=validator.max)


def _validators(field: fields.Field | None) -> Iterator[Any]:
    while field is not None:
        yield from field.validators
        field = field.inner if isinstance(field, fields.List) else None


def _code_of(text: Any, field: fields.Field | None) -> Message:
    if isinstance(text, Message):
        return text
    if text in _FIXED:
        return VALIDATION.message(_FIXED[text])
    for validator in _validators(field):
        if getattr(validator, "error", None) in _FIXED:
            continue  # a custom text: a fixed message, found above when it matched
        for message in _validator_messages(validator):
            if message == text:
                return message
    return untranslated(str(text))


def _field_at(schema: Schema | None, path: tuple[Any, ...]) -> fields.Field | None:
    """The field a path of marshmallow's messages names (through nested schemas and lists)."""
    field: fields.Field | None = None
    for key in path:
        if isinstance(key, int):
            field = field.inner if isinstance(field, fields.List) else field
            continue
        if field is not None:
            if isinstance(field, fields.List):
                field = field.inner
            if isinstance(field, fields.Nested):
                schema = field.schema
        if schema is None or key not in schema.fields:
            return None
        field, schema = schema.fields[key], None
    return field


def coded_errors(schema: Schema | None, messages: Any) -> Any:
    """marshmallow's (nested) messages with every text replaced by its Message."""

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, path) for v in value]
        return _code_of(value, _field_at(schema, path))

    return walk(messages, ())


__all__ = ["VALIDATION", "coded", "coded_errors"]
