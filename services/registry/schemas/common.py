"""Fields and checks the registry API's schemas share: codes, tags, reasons, notes, periods."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared import codes
from shared.vocabularies import LANGUAGE_LEVELS as LEVELS


def _country(value: str) -> None:
    if not codes.is_country(value):
        raise ValidationError(f"Unknown ISO 3166 country/agency code: {value!r}.")


def _language(value: str) -> None:
    if not codes.is_language(value):
        raise ValidationError(f"Unknown ISO 639 language code: {value!r}.")


Tag = fields.String(validate=validate.Length(1, 80))


class LanguageSkill(Schema):
    code = fields.String(required=True, validate=_language)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))


def _reason(labels: codes.Labels) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.OneOf(list(labels)),
        metadata={"description": "A code of the documented list: " + ", ".join(labels)},
    )


def _note() -> fields.String:
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Kept on this node only: free text never travels in events"},
    )


class _Period(Schema):
    @validates_schema(skip_on_field_errors=False)
    def _period(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise ValidationError("Must not be before start.", "end")
