"""The AsyncAPI document is generated from the contracts; the committed copy must not drift, and
every example must validate against the schema the document publishes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from shared.events import encode, new_event
from shared.events.asyncapi import document
from shared.events.contracts import CATALOG
from shared.events.examples import EXAMPLES

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_the_committed_asyncapi_document_is_the_generated_one():
    assert json.loads(COMMITTED.read_text()) == json.loads(json.dumps(document())), (
        "docs/asyncapi.json is stale: run `vir asyncapi --output docs/asyncapi.json`"
    )


def _validator(message_name: str):
    doc = document()
    schema = dict(doc["components"]["messages"][message_name]["payload"])
    # Resolve the data reference inside one self-contained JSON schema.
    schema["properties"] = dict(schema["properties"])
    ref = schema["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    schema["properties"]["data"] = {"$ref": f"#/$defs/{ref}"}
    defs = json.loads(
        json.dumps(doc["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/")
    )
    schema["$defs"] = defs
    return jsonschema_rs.validator_for(schema)


@pytest.mark.parametrize("contract", CATALOG, ids=lambda c: c.type)
def test_every_encoded_example_validates_against_the_published_schema(contract):
    agencies, data = EXAMPLES[contract.type]
    event = new_event(
        contract.type, source="/agencies/TG/registry", subject="s", agencies=agencies, data=data
    )
    validator = _validator(f"{contract.type.replace('.', '_')}_v{contract.version}")
    body = json.loads(encode(event))
    assert validator.is_valid(body), list(validator.iter_errors(body))[:3]
    body["data"]["unexpected"] = 1
    assert not validator.is_valid(body)
