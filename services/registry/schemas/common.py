"""Fields and checks the registry API's schemas share: codes, tags, reasons, notes, periods."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared import codes
from shared.validation_messages import VALIDATION
from shared.vocabularies import LANGUAGE_LEVELS as LEVELS


def _country(value: str) -> None:
    if not codes.is_country(value):
        raise ValidationError(VALIDATION.message("field.unknown_country", code=value))


def _agency(value: str) -> None:
    """An agency is named by its country's ISO 3166 code."""
    if not codes.is_country(value):
        raise ValidationError(VALIDATION.message("field.unknown_agency", code=value))


def _language(value: str) -> None:
    if not codes.is_language(value):
        raise ValidationError(VALIDATION.message("field.unknown_language", code=value))


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
