"""Staff messages name a reason by its label in the recipient's language, never by its code."""

from __future__ import annotations

import pytest

from services.notifications.domain.messages import Notification, Recipient
from services.notifications.rendering import render
from shared.events.examples import EXAMPLES


@pytest.mark.parametrize(
    ("type_", "language", "label"),
    [
        ("match.declined", "fr", "Dates inadaptées"),
        ("match.declined", "en", "Dates do not suit"),
        ("match.cancelled", "fr", "Volontaire retiré"),
        ("agreement.terminated", "en", "End of the programme"),
        ("mobility.interrupted", "fr", "Santé"),
    ],
)
def test_a_staff_message_gives_the_reasons_label(type_, language, label):
    _agencies, data = EXAMPLES[type_]
    notification = Notification(
        delivery_id="d-1",
        idempotency_key="k-1",
        event_id="e-1",
        event_type=type_,
        category="exchanges",
        mandatory=False,
        payload={"event": dict(data), "agencies": ["TG", "ML"]},
        recipient=Recipient("staff", "staff-tg", "staff@anvt.tg", language),
    )
    message = render(notification)
    assert label in message.text and label in message.html
    assert f": {data['reason']}\n" not in message.text
