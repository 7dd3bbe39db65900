"""The partner feed: PII-free events on the `vir.public` exchange, confirmed by the broker.

Each reduced copy is signed by the network notifications service (its own key: the body is no
longer the one its source signed); partners check it with that service's JWKS."""

from __future__ import annotations

import json

from services.notifications.domain.messages import Notification, RetryLater
from shared.messaging.publisher import OutgoingMessage, Publisher, PublishFailed
from shared.messaging.topology import PUBLIC_EXCHANGE
from shared.security import Signer


class PublicFeedChannel:
    name = "amqp"

    def __init__(self, publisher: Publisher, signer: Signer | None = None):
        self.publisher = publisher
        self.signer = signer

    def send(self, notification: Notification) -> str:
        event = notification.payload
        agencies = [a for a in str(event.get("viragencies", "")).split(".") if a]
        routing_key = ".".join([event["type"], *agencies])
        body = json.dumps(event, separators=(",", ":")).encode()
        message = OutgoingMessage(
            exchange=PUBLIC_EXCHANGE,
            routing_key=routing_key,
            body=body,
            message_id=event["id"],
            content_type="application/cloudevents+json",
            headers=self.signer.headers(body) if self.signer else {},
        )
        try:
            self.publisher.publish_batch([message])
        except PublishFailed as exc:
            raise RetryLater(str(exc)) from exc
        return f"confirmed on {PUBLIC_EXCHANGE} as {routing_key}"
