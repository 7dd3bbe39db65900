"""What every contract is built of: strict ordered schemas, codes, identifiers, periods."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared import codes, vocabularies

AGENCY_CODE = validate.Regexp(r"^[A-Z]{2}$", error="Not an ISO 3166 alpha-2 agency code.")
LANGUAGE_CODE = validate.Regexp(r"^[a-z]{2,3}$", error="Not an ISO 639 language code.")
IDENTIFIER = validate.Length(min=1, max=64)


def _reason(labels: codes.Labels, **kwargs: object) -> fields.String:
    """A reason as a code of one documented list (shared/codes.py): never free text."""
    return fields.String(validate=validate.OneOf(list(labels)), **kwargs)  # type: ignore[arg-type]


class _Strict(Schema):
    class Meta:
        ordered = True


class _Period(_Strict):
    @validates_schema(skip_on_field_errors=False)
    def _end_after_start(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise ValidationError("Must not be before start.", "end")


class LanguageSkill(_Strict):
    code = fields.String(required=True, validate=LANGUAGE_CODE)
    level = fields.String(required=True, validate=validate.OneOf(vocabularies.LANGUAGE_LEVELS))
