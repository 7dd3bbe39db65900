"""The AsyncAPI 3.0 description of the event contract, generated from the marshmallow schemas."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared.events.contracts import CATALOG, dataschema_uri
from shared.events.envelope import MAX_ATTRIBUTE_LENGTH
from shared.events.examples import EXAMPLES
from shared.messaging.topology import EVENTS_EXCHANGE, PUBLIC_EXCHANGE
from shared.security.signing import KEY_ID_HEADER, SIGNATURE_HEADER


def _schemas() -> dict[str, Any]:
    """JSON schemas of every data payload (apispec's marshmallow converter does the mapping)."""
    spec = APISpec("VIR events", "1", "3.1.0", plugins=[MarshmallowPlugin()])  # JSON Schema nulls
    names: dict[type, str] = {}
    for contract in CATALOG:
        name = contract.schema.__name__
        if contract.schema not in names:
            spec.components.schema(name, schema=contract.schema)
            names[contract.schema] = name
    return spec.to_dict()["components"]["schemas"]


def _message_name(type_: str, version: int) -> str:
    return f"{type_.replace('.', '_')}_v{version}"


# Every message on vir.events is signed by its publisher (shared/security/signing.py).
SIGNATURE_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": [SIGNATURE_HEADER, KEY_ID_HEADER],
    "properties": {
        SIGNATURE_HEADER: {
            "type": "string",
            "description": (
                "base64url (no padding) Ed25519 signature over the exact body bytes, by the key "
                "named in x-vir-key-id"
            ),
        },
        KEY_ID_HEADER: {
            "type": "string",
            "description": (
                "kid of the signing key in the network's trust list; the principal holding it "
                "must be the one `source` names and be entitled to the event type"
            ),
        },
    },
}


def document() -> dict[str, Any]:
    schemas = _schemas()
    messages: dict[str, Any] = {}
    for c in CATALOG:
        agencies, data = EXAMPLES[c.type]
        messages[_message_name(c.type, c.version)] = {
            "name": c.type,
            "title": c.type,
            "summary": c.summary,
            "contentType": "application/cloudevents+json",
            "headers": SIGNATURE_HEADERS,
            "payload": {
                "type": "object",
                "required": [
                    "specversion",
                    "id",
                    "source",
                    "type",
                    "subject",
                    "dataschema",
                    "viragencies",
                    "data",
                ],
                "properties": {
                    "specversion": {"const": "1.0"},
                    "id": {
                        "type": "string",
                        "maxLength": MAX_ATTRIBUTE_LENGTH["id"],
                        "description": "Unique event id; also the AMQP message_id",
                    },
                    "source": {
                        "type": "string",
                        "maxLength": MAX_ATTRIBUTE_LENGTH["source"],
                        "examples": ["/agencies/TG/registry"],
                    },
                    "type": {"const": c.type},
                    "subject": {
                        "type": "string",
                        "maxLength": MAX_ATTRIBUTE_LENGTH["subject"],
                        "description": "Id of the aggregate the event is about",
                    },
                    "time": {"type": "string", "format": "date-time"},
                    "datacontenttype": {"const": "application/json"},
                    "dataschema": {"const": dataschema_uri(c.type, c.version)},
                    "viragencies": {
                        "type": "string",
                        "description": "Agency codes concerned, dot-separated (sending, host)",
                        "examples": [".".join(agencies)],
                    },
                    "data": {"$ref": f"#/components/schemas/{c.schema.__name__}"},
                },
            },
            "examples": [
                {
                    "name": "example",
                    "payload": {"type": c.type, "viragencies": ".".join(agencies), "data": data},
                }
            ],
        }
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    channel_parameters = {
        "type": {
            "description": "Event type, e.g. match.proposed",
            "enum": sorted({c.type for c in CATALOG}),
        },
        "agencies": {
            "description": "ISO 3166 alpha-2 codes of the agencies concerned, dot-separated"
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "VIR Exchange events",
            "version": "1.0.0",
            "description": (
                "Events between national volunteering agencies. CloudEvents 1.0 structured JSON. "
                "Routing key <type>.<agency codes concerned>: `agreement.#` is every agreement "
                "event, `#.ML.#` everything concerning Mali. The partner feed carries the same "
                "routing with payloads reduced to an allow-list of fields: no personal data. "
                "Every event is signed (AMQP headers x-vir-signature, x-vir-key-id); consumers "
                "dead-letter events whose signature, key, routing key or entitlement fails."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": {
            "agencyNetwork": {
                "address": "{type}.{agencies}",
                "title": f"{EVENTS_EXCHANGE} (topic exchange)",
                "parameters": channel_parameters,
                "messages": refs,
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": EVENTS_EXCHANGE,
                            "type": "topic",
                            "durable": True,
                            "autoDelete": False,
                            "vhost": "/",
                        },
                    }
                },
            },
            "partnerFeed": {
                "address": "{type}.{agencies}",
                "title": f"{PUBLIC_EXCHANGE} (topic exchange, no personal data)",
                "parameters": channel_parameters,
                "messages": refs,
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": PUBLIC_EXCHANGE,
                            "type": "topic",
                            "durable": True,
                            "autoDelete": False,
                            "vhost": "/",
                        },
                    }
                },
            },
        },
        "operations": {
            "receiveAgencyEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/agencyNetwork"},
            },
            "receivePartnerFeed": {
                "action": "receive",
                "channel": {"$ref": "#/channels/partnerFeed"},
            },
        },
        "components": {"messages": messages, "schemas": schemas},
    }
