"""`python -m tests.chaos.child <vir arguments>`: the `vir` command line of production, with the
checker's instrument installed first.

The instrument: every event a consumer applies is also written to `chaos_applied` in the same
transaction as its effect and inbox row. The table has no unique key, so an effect applied twice
shows as two rows, whatever the inbox does; a rolled-back effect leaves none.

VIR_CHAOS_SABOTAGE (tests of the checker only, never set by `make chaos`) removes a protection
in this process, to show that the checker notices:
- `inbox`: the consumer's inbox no longer deduplicates (every delivery counts as new);
- `outbox`: the relay marks rows published and commits before it publishes (no confirm first).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, insert

SABOTAGE_ENV = "VIR_CHAOS_SABOTAGE"

metadata = MetaData()
applied = Table(
    "chaos_applied",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("consumer", String(100), nullable=False, index=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), server_default=func.now()),
)


def install() -> None:
    from shared.messaging import consumer as consumer_module

    original_init = consumer_module.EventConsumer.__init__

    def init(self: Any, connection: Any, spec: Any, handler: Any, *args: Any, **kw: Any) -> None:
        def recorded(event: Any, session: Any) -> None:
            handler(event, session)
            session.execute(
                insert(applied).values(consumer=spec.name, event_id=event.id, event_type=event.type)
            )

        original_init(self, connection, spec, recorded, *args, **kw)

    consumer_module.EventConsumer.__init__ = init  # type: ignore[method-assign]
    sabotage = os.environ.get(SABOTAGE_ENV, "")
    if "inbox" in sabotage:
        _sabotage_inbox()
    if "outbox" in sabotage:
        _sabotage_outbox()


def _sabotage_inbox() -> None:
    from sqlalchemy.dialects import postgresql

    from shared import inbox
    from shared.db import inbox as inbox_table

    def record_always(session: Any, consumer: str, event: Any) -> bool:
        session.execute(
            postgresql.insert(inbox_table)
            .values(
                consumer=consumer,
                source=event.source,
                event_id=event.id,
                event_type=event.type,
                processed_at=func.now(),
            )
            .on_conflict_do_nothing()
        )
        return True

    inbox.record_once = record_always


def _sabotage_outbox() -> None:
    from sqlalchemy import select

    from shared import outbox as outbox_module
    from shared.db import outbox

    def run_once(self: Any) -> int:
        with self.engine.connect() as conn, conn.begin():
            partitions = self._claim_partitions(conn)
            if not partitions:
                return 0
            rows = conn.execute(
                select(outbox.c.seq, outbox.c.event_id, outbox.c.routing_key, outbox.c.payload)
                .where(outbox.c.published_at.is_(None), outbox.c.partition.in_(partitions))
                .order_by(outbox.c.seq)
                .limit(self.settings.batch_size)
            ).all()
            if not rows:
                return 0
            self._mark_published(conn, [r.seq for r in rows])
        # Committed as published before the broker said anything.
        self.publisher.publish_batch(
            [self._message(r.event_id, r.routing_key, r.payload) for r in rows]
        )
        return len(rows)

    outbox_module.OutboxRelay.run_once = run_once  # type: ignore[method-assign]


def main() -> None:
    install()
    from vir.cli import main as vir_main

    sys.argv = ["vir", *sys.argv[1:]]
    vir_main()


if __name__ == "__main__":
    main()
