"""The topology declared in code and the RabbitMQ definitions under deploy/ must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from shared.messaging import topology

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"


def _index(defs: dict) -> dict:
    return {
        "exchanges": {e["name"]: e for e in defs["exchanges"]},
        "queues": {q["name"]: q for q in defs["queues"]},
        "bindings": sorted(
            (b["source"], b["destination"], b["routing_key"]) for b in defs["bindings"]
        ),
    }


def test_deploy_definitions_match_the_code_topology():
    deployed = json.loads(DEFINITIONS.read_text())
    expected = topology.definitions(topology.network_consumers(["TG", "ML"]))
    got, want = _index(deployed), _index(expected)
    assert got["exchanges"].keys() == want["exchanges"].keys()
    for name, exchange in want["exchanges"].items():
        assert {k: got["exchanges"][name][k] for k in ("type", "durable")} == {
            k: exchange[k] for k in ("type", "durable")
        }, name
    assert got["queues"].keys() == want["queues"].keys()
    for name, queue in want["queues"].items():
        assert got["queues"][name]["arguments"] == queue["arguments"], name
    assert got["bindings"] == want["bindings"]


def test_every_consumer_queue_is_quorum_with_a_delivery_limit_and_a_dead_letter_queue():
    for spec in topology.network_consumers(["TG", "ML", "NE"]):
        args = spec.queue_arguments()
        assert args["x-queue-type"] == "quorum"
        assert args["x-delivery-limit"] > 0
        assert args["x-dead-letter-exchange"] == topology.DEAD_LETTER_EXCHANGE
        assert args["x-dead-letter-routing-key"] == spec.name
        names = [q.name for q in topology.consumer_queues(spec)]
        assert names[0] == spec.queue and names[-1] == spec.dead_letter_queue


def test_retry_queues_wait_longer_each_time_and_return_to_their_own_consumer_only():
    spec = topology.registry_consumer("ML")
    ttls = [
        spec.retry_queue_arguments(n)["x-message-ttl"]
        for n in range(1, len(spec.retry_delays_ms) + 1)
    ]
    assert ttls == sorted(ttls) and len(set(ttls)) == len(ttls)
    for n in range(1, len(ttls) + 1):
        args = spec.retry_queue_arguments(n)
        assert args["x-dead-letter-exchange"] == ""  # default exchange: straight to one queue
        assert args["x-dead-letter-routing-key"] == "registry.ML"


def test_topic_matching_follows_amqp_words():
    m = topology.topic_matches
    assert m("agreement.*.#.ML.#", "agreement.proposed.TG.ML")
    assert m("agreement.*.#.ML.#", "agreement.proposed.ML.TG")
    assert m("agreement.*.#.ML.#", "agreement.proposed.TG.NE.ML")
    assert not m("agreement.*.#.ML.#", "agreement.proposed.TG.NE")
    assert not m("agreement.*.#.ML.#", "match.proposed.TG.ML")
    assert m("#", "volunteer.registered.TG") and m("volunteer.#", "volunteer.registered.TG")
    assert not m("volunteer.*", "volunteer.registered.TG")
