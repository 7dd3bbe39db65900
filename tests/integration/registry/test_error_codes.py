"""A refusal of the API carries its message's code and parameters beside the English text, so
a client shows it in its own language."""

from __future__ import annotations

import pytest

from shared.messages import render_message
from tests.support.registry import volunteer_payload

pytestmark = pytest.mark.integration


def test_a_refusal_answers_its_code_and_parameters_which_render_in_french_and_english(tg):
    missing = tg.call("GET", "/api/v1/volunteers/vol-nope")
    assert missing.status_code == 404
    assert missing.json["code"] == 404  # flask-smorest's HTTP status, as before
    assert missing.json["message"] == "No volunteer vol-nope."
    assert missing.json["message_code"] == "volunteer.not_found"
    assert missing.json["params"] == {"id": "vol-nope"}

    vid = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload()).json["id"]
    first = tg.call("POST", f"/api/v1/volunteers/{vid}/withdraw", json={"reason": "health"})
    assert first.status_code == 200
    again = tg.call("POST", f"/api/v1/volunteers/{vid}/withdraw", json={"reason": "health"})
    assert again.status_code == 409
    body = again.json
    assert body["message_code"] == "volunteer.not_withdrawable"
    assert body["params"] == {"status": "withdrawn"}
    assert body["errors"] == {"json": {"status": [body["message"]]}}
    english = render_message(body["message_code"], body["params"], "en")
    french = render_message(body["message_code"], body["params"], "fr")
    assert english == body["message"]
    assert english == "A volunteer whose status is withdrawn cannot be withdrawn."
    assert french == "Un volontaire au statut « withdrawn » ne peut pas être retiré."


def test_invalid_input_answers_each_fields_messages_as_codes_too(tg):
    payload = volunteer_payload(nationality="XX", gender="robot")
    payload.pop("first_name")
    answer = tg.call("POST", "/api/v1/volunteers", json=payload)
    assert answer.status_code == 422
    errors, codes = answer.json["errors"]["json"], answer.json["error_codes"]["json"]
    assert errors["first_name"] == ["Missing data for required field."]
    assert codes["first_name"] == [{"code": "field.required", "params": {}}]
    assert codes["nationality"] == [{"code": "field.unknown_country", "params": {"code": "XX"}}]
    assert codes["gender"] == [
        {"code": "field.one_of", "params": {"choices": "female, male, other, undisclosed"}}
    ]
    french = render_message("field.one_of", codes["gender"][0]["params"], "fr")
    assert french == "Doit être l'une de ces valeurs : female, male, other, undisclosed."
