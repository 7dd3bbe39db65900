"""The dispatcher: sends due deliveries through their channel, logs every attempt, retries on a
schedule, and reports each final outcome as a notification.* event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.adapters.directory import Directory
from services.notifications.adapters.orm import Delivery, DeliveryAttempt, Subscription
from services.notifications.domain.messages import (
    Channel,
    DeliveryFailed,
    Gone,
    Notification,
    Recipient,
    RetryLater,
    Undeliverable,
)
from services.notifications.domain.retry import DISABLE_AFTER, next_delay
from services.notifications.shares import Handed, aware, in_share, share_index
from services.notifications.statements import CLAIM, DUE, DUE_AFTER, NEXT_DUE, ROUND
from shared.events import InvalidEvent, new_event
from shared.logging import get_logger
from shared.outbox import add_event
from shared.wakeup import Waiter

log = get_logger(__name__)
ATTEMPTS = Counter(
    "vir_notification_attempts_total",
    "Delivery attempts by channel and outcome",
    ["channel", "outcome"],
)

# ROUND due deliveries are read per query (statements.py); each is still claimed and committed in
# its own transaction right after its send (a batch in one transaction, rolled back by a process
# stopped mid-batch, would send every message of it already handed to SMTP again: seen on a
# compose restart).
_STAGED = "vir.dispatcher.staged"  # session.info: this attempt may have staged deliveries

Clock = Callable[[], datetime]
Links = Callable[[Delivery], dict[str, str]]


@dataclass
class Dispatcher:
    sessions: sessionmaker[Session]
    channels: Mapping[str, Channel]
    directory: Directory | None
    source: str
    clock: Clock = lambda: datetime.now(UTC)  # noqa: E731 - a default clock
    links: Links | None = None
    on_subscription_disabled: Callable[[Session, Subscription, str], None] | None = None
    # Set by run_once: when the earliest pending delivery that was not due yet falls due.
    next_due: datetime | None = None
    # Threads sending at once in `run`. Each takes the deliveries whose ordering key falls in its
    # share (shares.py: the recipient, and for staff what the message is about), so one
    # person's or one partner's messages still go out in order, while a slow SMTP or webhook
    # answer holds up only that share.
    workers: int = 4

    def run_once(self, share: tuple[int, int] | None = None) -> int:
        """Attempt every due delivery once (of the recipients in `share` = (k, n): those whose
        key modulo n is k; all when None); return how many were attempted.

        Each delivery is attempted in its own transaction: a failure on one can neither undo
        the record of another's sending (which would send it again) nor stop the others.
        """
        attempted, self.next_due = self._run(share)
        return attempted

    def _run(
        self, share: tuple[int, int] | None, handed: list[Handed] | None = None
    ) -> tuple[int, datetime | None]:
        """run_once's work; also returns when the earliest delivery not yet due falls due.

        Due deliveries are read in (next_attempt_at, id) order, ROUND at a time, each query
        starting after the last row the previous one read: a backlog of thousands costs one
        pass, not a re-read of everything already attempted at every step. With `handed`, the
        rows of other shares go to their workers, who attempt them without reading again."""
        attempted = 0
        after: tuple[datetime, str] | None = None
        while True:
            with self.sessions.begin() as session:
                at = self.clock()
                if after is None:
                    rows = session.execute(DUE, {"at": at}).all()
                else:
                    bounds = {"at": at, "after_at": after[0], "after_id": after[1]}
                    rows = session.execute(DUE_AFTER, bounds).all()
                # A short page is the last: a delivery committed after this read comes with a
                # wake-up of its own, so the round ends without reading again.
                last = len(rows) < ROUND
                next_due = session.scalar(NEXT_DUE, {"at": at}) if last else None
            if not rows:
                return attempted, next_due
            mine = []
            for delivery_id, kind, who, subject, _ in rows:
                if in_share(kind, who, share, subject):
                    mine.append(delivery_id)
                elif handed is not None and share is not None:
                    handed[share_index(kind, who, share[1], subject)].put(delivery_id)
            done, next_due, staged = self._attempt_all(mine, next_due)
            attempted += done
            if staged:  # e.g. the owner told of a disabled subscription: read it this round
                last = False
            if last:
                return attempted, next_due
            after = (rows[-1].next_attempt_at, rows[-1].id)

    def _attempt_all(
        self, ids: list[str], next_due: datetime | None
    ) -> tuple[int, datetime | None, bool]:
        """Attempt `ids` in order: (how many, the earliest of `next_due` and retries, staged)."""
        attempted, staged = 0, False
        for delivery_id in ids:
            done, retry_at, more = self._attempt_one(delivery_id)
            attempted, staged = attempted + done, staged or more
            if retry_at is not None and (next_due is None or aware(retry_at) < aware(next_due)):
                next_due = retry_at
        return attempted, next_due, staged

    def _attempt_one(self, delivery_id: str) -> tuple[int, datetime | None, bool]:
        """(1 if attempted else 0, when it is due again if it is to be retried, whether the
        attempt staged new deliveries)."""
        try:
            with self.sessions.begin() as session:
                locking = CLAIM[session.get_bind().dialect.name == "postgresql"]
                claimed = session.execute(locking, {"id": delivery_id, "due": self.clock()}).first()
                if claimed is None:  # another dispatcher has it, or it is no longer pending
                    return 0, None, False
                delivery = claimed[0]
                self._attempt(session, delivery, opted_out=bool(claimed[1]))
                retry_at = delivery.next_attempt_at if delivery.status == "pending" else None
                staged = bool(session.info.pop(_STAGED, False))
            return 1, retry_at, staged
        except Exception as exc:  # noqa: BLE001 - a bug or bad row must not make it loop
            log.exception("notifications.delivery_crashed", delivery=delivery_id)
            with self.sessions.begin() as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is not None and delivery.status == "pending":
                    at = self.clock()
                    delivery.status, delivery.updated_at = "failed", at
                    delivery.last_error = f"internal error: {type(exc).__name__}"
                    self._log(session, delivery, at, "failed", delivery.last_error, None)
            return 1, None, False

    def run(
        self, stop: threading.Event, interval: float = 5.0, wakeup: Waiter | None = None
    ) -> None:
        """Dispatch until `stop` is set, with `workers` threads. Between rounds, sleep until the
        next delivery falls due, or `wakeup` fires (new deliveries committed), or at most
        `interval` (the safety net). The wake-up reaches the first worker only: it reads every
        due delivery and hands the others' to their workers (one read per commit); they read
        for themselves only once an interval without any."""
        n = max(1, self.workers)
        handed = [Handed() for _ in range(n)]
        helpers = [
            threading.Thread(
                target=self._work,
                args=(stop, interval, (k, n), handed[k]),
                name=f"dispatcher-{k}",
                daemon=True,
            )
            for k in range(1, n)
        ]
        for helper in helpers:
            helper.start()
        try:
            while not stop.is_set():
                wait = self._round((0, n) if n > 1 else None, interval, handed)
                if wakeup is None:
                    stop.wait(wait)
                else:
                    wakeup.wait(wait, stop)
        finally:
            for box in handed[1:]:
                box.kick.set()
            if wakeup is not None:
                wakeup.close()
            for helper in helpers:
                helper.join(30)

    def _work(
        self, stop: threading.Event, interval: float, share: tuple[int, int], box: Handed
    ) -> None:
        deadline = time.monotonic() + self._round(share, interval)
        while not stop.is_set():
            if not box.kick.wait(max(0.0, deadline - time.monotonic())):
                deadline = time.monotonic() + self._round(share, interval)  # its own look
                continue
            box.kick.clear()
            try:
                retry_at = self._attempt_all(box.take(), None)[1]
            except Exception:  # noqa: BLE001 - keep dispatching; its own round retries
                log.exception("notifications.dispatch_failed")
                retry_at = None
            deadline = min(deadline, time.monotonic() + self._wait(retry_at, interval))

    def _round(
        self, share: tuple[int, int] | None, interval: float, handed: list[Handed] | None = None
    ) -> float:
        """One round of `share` (handing others' to `handed`); how long to sleep after it."""
        next_due = None
        try:
            next_due = self._run(share, handed)[1]
        except Exception:  # noqa: BLE001 - keep dispatching; the next round retries
            log.exception("notifications.dispatch_failed")
        return self._wait(next_due, interval)

    def _wait(self, next_due: datetime | None, interval: float) -> float:
        due = interval if next_due is None else (aware(next_due) - self.clock()).total_seconds()
        return min(interval, max(0.0, due))

    # -- one delivery ------------------------------------------------------------------------------

    def _recipient(self, session: Session, d: Delivery) -> Recipient:
        if d.channel == "amqp":
            return Recipient(kind="partner", id=d.recipient_id, address=d.recipient_id)
        if d.channel == "webhook":
            sub = session.get(Subscription, d.recipient_id)
            if sub is None or sub.status == "disabled":
                raise Undeliverable("subscription deleted or disabled")
            if sub.status == "paused":
                raise RetryLater("subscription paused")
            return Recipient(
                kind="partner", id=sub.id, address=sub.url, secret=sub.secret, name=sub.partner
            )
        if d.channel == "email" and d.recipient_kind == "partner":
            # A partner's owner (e.g. told its subscription was disabled): the address is on file.
            sub = session.get(Subscription, d.recipient_id)
            if sub is None:
                raise Undeliverable("subscription deleted")
            return Recipient(kind="partner", id=sub.id, address=sub.owner_email, name=sub.partner)
        if self.directory is None:
            raise Undeliverable("no directory configured for people")
        return self.directory.resolve(d.recipient_kind, d.recipient_id, d.channel)

    def _attempt(self, session: Session, d: Delivery, opted_out: bool) -> None:
        if d.status != "pending":  # cancelled earlier in this batch (e.g. its endpoint went away)
            return
        at = self.clock()
        d.updated_at = at
        if opted_out and not d.mandatory:
            d.status = "skipped"
            self._log(
                session, d, at, "skipped", "recipient opted out of this channel and category", None
            )
            return
        channel = self.channels.get(d.channel)
        d.attempts += 1
        try:
            if channel is None:
                raise Undeliverable(f"channel {d.channel} is not configured on this instance")
            recipient = self._recipient(session, d)
            notification = Notification(
                delivery_id=d.id,
                idempotency_key=d.idempotency_key,
                event_id=d.event_id,
                event_type=d.event_type,
                category=d.category,
                mandatory=d.mandatory,
                payload=d.payload,
                recipient=recipient,
                links=self.links(d) if self.links else {},
            )
            answer = channel.send(notification)
        except RetryLater as exc:
            self._retry(session, d, at, exc)
            return
        except Gone as exc:
            self._fail(session, d, at, exc, "gone")
            self._disable(session, d, f"the endpoint answered 410 Gone: {exc.reason}")
            return
        except DeliveryFailed as exc:
            self._fail(session, d, at, exc, "failed")
            return
        d.status, d.last_error = "sent", None
        self._log(session, d, at, "sent", None, answer)
        self._clear_failing(session, d)
        self._report(session, d, "notification.delivered", None)

    def _retry(self, session: Session, d: Delivery, at: datetime, exc: RetryLater) -> None:
        delay = next_delay(d.channel, d.attempts, exc.retry_after)
        if delay is None:
            self._fail(session, d, at, exc, "failed")
            return
        d.next_attempt_at, d.last_error = at + delay, exc.reason
        self._log(session, d, at, "retry", exc.reason, exc.provider_answer)
        if d.channel == "webhook":
            sub = session.get(Subscription, d.recipient_id)
            if sub is not None and sub.status == "active":
                sub.failing_since = sub.failing_since or at
                if at - aware(sub.failing_since) >= DISABLE_AFTER:
                    self._disable(
                        session,
                        d,
                        f"failing since {sub.failing_since:%Y-%m-%d %H:%M} UTC: {exc.reason}",
                    )

    def _fail(
        self, session: Session, d: Delivery, at: datetime, exc: DeliveryFailed, outcome: str
    ) -> None:
        d.status, d.last_error = "failed", exc.reason
        self._log(session, d, at, outcome, exc.reason, exc.provider_answer)
        self._report(session, d, "notification.failed", exc.reason)

    def _disable(self, session: Session, d: Delivery, reason: str) -> None:
        sub = session.get(Subscription, d.recipient_id)
        if sub is None or sub.status == "disabled":
            return
        sub.status, sub.disabled_reason, sub.updated_at = "disabled", reason, self.clock()
        log.warning("notifications.subscription_disabled", subscription=sub.id, reason=reason)
        for pending in session.scalars(
            select(Delivery).where(
                Delivery.recipient_id == sub.id, Delivery.status == "pending", Delivery.id != d.id
            )
        ):
            pending.status, pending.last_error = "cancelled", "subscription disabled"
        if self.on_subscription_disabled:
            self.on_subscription_disabled(session, sub, reason)
            session.info[_STAGED] = True  # it may stage deliveries (the owner's e-mail)

    def _clear_failing(self, session: Session, d: Delivery) -> None:
        if d.channel == "webhook":
            sub = session.get(Subscription, d.recipient_id)
            if sub is not None:
                sub.failing_since = None

    def _log(
        self,
        session: Session,
        d: Delivery,
        at: datetime,
        outcome: str,
        reason: str | None,
        answer: str | None,
    ) -> None:
        session.add(
            DeliveryAttempt(
                delivery_id=d.id,
                at=at,
                outcome=outcome,
                reason=reason,
                provider_answer=(answer or None) and answer[:2000],
            )
        )
        ATTEMPTS.labels(d.channel, outcome).inc()

    def _report(self, session: Session, d: Delivery, type_: str, reason: str | None) -> None:
        try:
            event = new_event(
                type_,
                source=self.source,
                subject=d.id,
                agencies=list(d.agencies),
                data={
                    "notification_id": d.id,
                    "about_event_id": d.event_id,
                    "about_event_type": d.event_type,
                    "channel": d.channel,
                    "recipient_kind": d.recipient_kind,
                    "attempts": max(1, d.attempts),
                    "reason": reason and reason[:500],
                },
            )
        except InvalidEvent as exc:
            # The message went out (or failed) all the same; its outcome stays in the log.
            log.error("notifications.report_refused", delivery=d.id, reason=exc.reason)
            return
        add_event(session, event)
