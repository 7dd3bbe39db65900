"""Volunteers in and out of the API: registration, changes, search, withdrawal, dossier."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from services.registry.domain.volunteers import STATUSES
from services.registry.schemas.common import LanguageSkill, Tag, _country, _language, _note, _reason
from shared import codes
from shared.vocabularies import CONSENT_PURPOSES, GENDERS
from shared.vocabularies import EDUCATION_LEVELS as EDUCATION


class Consent(Schema):
    given_at = fields.AwareDateTime(required=True, default_timezone=None)
    purposes = fields.List(
        fields.String(validate=validate.OneOf(CONSENT_PURPOSES)),
        required=True,
        validate=validate.Length(min=1),
    )


class _Window(Schema):
    @validates_schema(skip_on_field_errors=False)
    def _window(self, data, **_):  # noqa: ANN001, ANN202
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end < start:
            raise ValidationError("Must not be before available_from.", "available_until")


class VolunteerIn(_Window):
    first_name = fields.String(required=True, validate=validate.Length(1, 100))
    last_name = fields.String(required=True, validate=validate.Length(1, 100))
    date_of_birth = fields.Date(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(GENDERS))
    nationality = fields.String(required=True, validate=_country)
    identity_number = fields.String(required=True, validate=validate.Length(3, 64))
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="Not a phone number."),
    )
    preferred_language = fields.String(load_default="fr", validate=validate.OneOf(["fr", "en"]))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    consent = fields.Nested(Consent, required=True)
    languages = fields.List(
        fields.Nested(LanguageSkill), load_default=list, validate=validate.Length(max=20)
    )
    skills = fields.List(Tag, load_default=list, validate=validate.Length(max=50))
    domains = fields.List(Tag, load_default=list, validate=validate.Length(max=20))
    education_level = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(EDUCATION)
    )
    available_from = fields.Date(load_default=None, allow_none=True)
    available_until = fields.Date(load_default=None, allow_none=True)
    preferred_countries = fields.List(fields.String(validate=_country), load_default=list)

    @validates("date_of_birth")
    def _adult(self, value, **_):  # noqa: ANN001, ANN202
        from datetime import date

        today = date.today()
        if value >= today:
            raise ValidationError("Must be in the past.")
        if value.year < 1900:
            raise ValidationError("Must be after 1900.")


class VolunteerPatch(_Window):
    """Every field optional; identity (names, birth date, identity number) is changed by admins."""

    email = fields.Email(allow_none=True)
    phone = fields.String(
        allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="Not a phone number.")
    )
    preferred_language = fields.String(validate=validate.OneOf(["fr", "en"]))
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    languages = fields.List(fields.Nested(LanguageSkill), validate=validate.Length(max=20))
    skills = fields.List(Tag, validate=validate.Length(max=50))
    domains = fields.List(Tag, validate=validate.Length(max=20))
    education_level = fields.String(allow_none=True, validate=validate.OneOf(EDUCATION))
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    preferred_countries = fields.List(fields.String(validate=_country))


class VolunteerOut(Schema):
    id = fields.String()
    agency = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    date_of_birth = fields.Date()
    gender = fields.String()
    nationality = fields.String()
    identity_number = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferred_language = fields.String()
    notes = fields.String(allow_none=True)
    consent_given_at = fields.DateTime()
    consent_purposes = fields.List(fields.String())
    languages = fields.List(fields.Nested(LanguageSkill))
    skills = fields.List(fields.String())
    domains = fields.List(fields.String())
    education_level = fields.String(allow_none=True)
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    preferred_countries = fields.List(fields.String())
    status = fields.String()
    withdrawn_reason = fields.String(allow_none=True)
    withdrawn_note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ContactOut(Schema):
    id = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferred_language = fields.String()


class DossierVolunteerOut(VolunteerOut):
    """What the host agency's node reads: personal data, but no note typed on this node."""

    class Meta:
        exclude = ("notes", "withdrawn_note")


class DossierOut(Schema):
    match_id = fields.String()
    volunteer = fields.Nested(DossierVolunteerOut)


class VolunteerQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    skill = fields.String(validate=validate.Length(1, 80))
    domain = fields.String(validate=validate.Length(1, 80))
    language = fields.String(validate=_language)
    q = fields.String(
        validate=validate.Length(1, 100),
        metadata={"description": "Name contains (case-insensitive)"},
    )


class Withdrawal(Schema):
    reason = _reason(codes.WITHDRAWAL_REASONS)
    note = _note()
