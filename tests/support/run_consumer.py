"""Run the effects consumer in its own process, so tests can SIGKILL it mid-batch."""

from __future__ import annotations

import signal
import sys

from kombu import Connection

from shared.db import make_engine, make_session_factory
from shared.messaging.consumer import EventConsumer
from tests.support.effects import SPEC, record_effect
from tests.support.keys import keyring


def main(database_url: str, amqp_url: str, prefetch: int) -> None:
    engine = make_engine(database_url)
    consumer = EventConsumer(
        Connection(amqp_url, heartbeat=10),
        SPEC,
        record_effect,
        make_session_factory(engine),
        verifier=keyring().verifier(),
        prefetch_count=prefetch,
        reconnect_max_delay=1.0,
    )
    signal.signal(signal.SIGTERM, lambda *_: consumer.stop())
    consumer.run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 50)
