"""What every service builds from its settings: database engine, sessions, publisher, readiness;
and `service`, the service's own typed dependencies, composed by its bootstrap.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine, make_session_factory
from shared.health import Readiness
from shared.messaging import memory
from shared.messaging.consumer import EventConsumer, Handler
from shared.messaging.publisher import Publisher, make_publisher
from shared.messaging.supervisor import Supervisor
from shared.messaging.topology import ConsumerSpec
from shared.outbox import OutboxRelay
from shared.security import Signer, SigningKey, TrustStore, Verifier, load_or_create_key
from shared.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readiness: Readiness
    signing_key: SigningKey
    trust: TrustStore
    background: list[threading.Thread] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)
    # The service's own dependencies: a dataclass of its bootstrap.py, which also gives the typed
    # accessor to it (`dependencies()`); shared code never looks inside.
    service: object | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def publisher(self) -> Publisher:
        m = self.settings.messaging
        if m.embedded:
            return make_publisher(m.amqp_url)
        return make_publisher(
            m.amqp_url,
            confirm_timeout=m.confirm_timeout,
            heartbeat=m.heartbeat,
            declare_topology=m.declare_topology,
        )

    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            self.engine,
            self.publisher(),
            self.settings.relay,
            service=self.settings.service,
            signer=Signer(self.signing_key),
        )

    def consumer(self, spec: ConsumerSpec, handler: Handler, **options: Any) -> EventConsumer:
        m = self.settings.messaging
        connection = memory.connection(m.amqp_url, heartbeat=m.heartbeat, connect_timeout=5)
        options.setdefault("batch_size", m.consumer_batch)
        options.setdefault("linger", m.consumer_linger)
        return EventConsumer(
            connection,
            spec,
            handler,
            self.sessions,
            verifier=Verifier(self.trust),
            publisher=self.publisher(),
            declare_topology=m.declare_topology,
            reconnect_max_delay=m.reconnect_max_delay,
            max_event_bytes=m.max_event_bytes,
            **options,
        )

    def start_consumer(self, consumer: EventConsumer, name: str | None = None) -> Supervisor:
        """Run `consumer` in a supervised thread (restarted if it dies) and make readiness
        depend on it."""
        m = self.settings.messaging
        supervisor = Supervisor(
            consumer,
            self.stop,
            restart_delay=m.consumer_restart_delay,
            max_restart_delay=max(m.consumer_restart_delay, m.reconnect_max_delay),
            connect_grace=m.consumer_connect_grace,
        )
        self.consumers.append(consumer)
        self.readiness.required_checks[f"consumer {consumer.spec.name}"] = supervisor.status
        self.start_thread(name or f"consumer-{consumer.spec.name}", supervisor.run)
        return supervisor

    def start_thread(self, name: str, target: Any, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self.background.append(thread)
        return thread

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for consumer in self.consumers:
            consumer.stop()
        for thread in self.background:
            thread.join(timeout)
        self.engine.dispose()


def current_runtime() -> Runtime:
    """The runtime of the app serving the current request (set by shared.api.base_app)."""
    from flask import current_app

    runtime = current_app.extensions[APP_EXTENSION]
    assert isinstance(runtime, Runtime)
    return runtime


APP_EXTENSION = "vir.runtime"  # where shared.api.base_app keeps the runtime


def build_runtime(settings: Settings, engine: Engine | None = None) -> Runtime:
    engine = engine or make_engine(settings.database_url)
    security = settings.security
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        readiness=Readiness(settings.service, engine, settings.relay.backlog_warning),
        # The key is made on the first start (mode 0600) and never leaves its file.
        signing_key=load_or_create_key(security.key_file, settings.principal),
        trust=TrustStore(security.trust_list, security.trust_reload_seconds),
    )
