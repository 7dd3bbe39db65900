"""The SMS channel: a pluggable gateway driver chosen by SMS_DRIVER.

- `http`: an HTTP gateway shaped like Africa's Talking's SMS API (widely used by African
  operators): POST `{SMS_GATEWAY_URL}/version1/messaging` with `username`, `to`, `message` and an
  optional `from`, the key in the `apiKey` header, a JSON answer listing each recipient's status.
- `file`: development; each SMS becomes one JSON line of SMS_FILE.

Numbers must be E.164 (`+228 90 00 00 00` is read as `+22890000000`); anything else is refused
as undeliverable. The gateway takes no idempotency key: a timeout after the request left may send
the same SMS twice on retry, which is preferred to a lost placement message.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from services.notifications.config import Options
from services.notifications.domain.messages import (
    Channel,
    DeliveryFailed,
    Notification,
    RetryLater,
    Undeliverable,
)
from services.notifications.rendering import render
from shared.private_files import append_private
from shared.settings import SettingsError

E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_SEPARATORS = re.compile(r"[\s.\-()/]")
# Africa's Talking recipient statuses that succeed, and those worth another try later; every
# other status (InvalidPhoneNumber, UserInBlacklist, DoNotDisturbRejection…) is final.
SENT = frozenset({"Success", "Sent", "Queued", "Processed"})
TEMPORARY = frozenset(
    {"InsufficientBalance", "InternalServerError", "GatewayError", "RiskHold", "CouldNotRoute"}
)


def e164(number: str) -> str:
    """`+228 90 12 34 56` or `00228 90-12-34-56` → `+22890123456`; anything else is refused."""
    compact = _SEPARATORS.sub("", number or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.fullmatch(compact):
        raise Undeliverable("the phone number on file is not in international (E.164) form")
    return compact


def _text(notification: Notification) -> str:
    try:
        return render(notification).sms
    except DeliveryFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - a template fault must not block the queue
        raise RetryLater(f"the message could not be written: {type(exc).__name__}: {exc}") from exc


def _mask(text: str, number: str) -> str:
    return text.replace(number, "<recipient>").replace(number.lstrip("+"), "<recipient>")


class FileSmsChannel:
    """Development driver: appends {to, message, at, idempotency_key} lines to a file."""

    name = "sms"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> str:
        to = e164(notification.recipient.address)
        line = {
            "to": to,
            "message": _text(notification),
            "at": datetime.now(UTC).isoformat(),
            "idempotency_key": notification.idempotency_key,
        }
        try:
            with self._lock:
                append_private(self.path, json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise RetryLater(f"SMS file not writable: {exc.__class__.__name__}") from exc
        return f"written to {self.path.name}"


class HttpSmsGateway:
    """An Africa's Talking-shaped SMS gateway at a configurable base URL."""

    name = "sms"

    def __init__(
        self,
        base_url: str,
        username: str,
        api_key: str,
        sender: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ):
        self.url = base_url.rstrip("/") + "/version1/messaging"
        self.username, self.api_key, self.sender = username, api_key, sender
        self.timeout = timeout
        self.http = session or requests.Session()

    def send(self, notification: Notification) -> str:
        to = e164(notification.recipient.address)
        form = {"username": self.username, "to": to, "message": _text(notification)}
        if self.sender:
            form["from"] = self.sender
        try:
            response = self.http.post(
                self.url,
                data=form,
                headers={"apiKey": self.api_key, "Accept": "application/json"},
                timeout=(5.0, self.timeout),
            )
        except requests.RequestException as exc:
            raise RetryLater(f"SMS gateway unreachable: {exc.__class__.__name__}") from exc
        body = _mask(response.text[:2000], to)
        status = response.status_code
        if status in (401, 403):
            raise Undeliverable("gateway refused credentials", f"HTTP {status} {body}")
        if status == 429 or status >= 500:
            raise RetryLater(
                f"SMS gateway answered HTTP {status}",
                f"HTTP {status} {body}",
                _retry_after(response.headers.get("Retry-After")),
            )
        if status >= 400:
            raise Undeliverable(f"SMS gateway refused the request (HTTP {status})", body)
        try:
            recipient = response.json()["SMSMessageData"]["Recipients"][0]
            outcome = str(recipient["status"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # The gateway took the request; sending again could duplicate the SMS.
            raise Undeliverable("unreadable SMS gateway answer", f"HTTP {status} {body}") from exc
        answer = json.dumps(
            {k: recipient.get(k) for k in ("status", "statusCode", "messageId", "cost")},
            ensure_ascii=False,
        )
        if outcome in SENT:
            return answer
        if outcome in TEMPORARY:
            raise RetryLater(f"SMS gateway: {outcome}", answer)
        raise Undeliverable(f"SMS gateway: {outcome}", answer)


def _retry_after(value: str | None) -> timedelta | None:
    try:
        return timedelta(seconds=max(0, int(value))) if value else None
    except ValueError:
        return None


def make_sms_channel(options: Options) -> Channel:
    """The SMS driver an instance's options ask for (SMS_DRIVER=file|http)."""
    if options.sms_driver == "http":
        if not options.sms_gateway_url:
            raise SettingsError("SMS_DRIVER=http needs SMS_GATEWAY_URL")
        return HttpSmsGateway(
            options.sms_gateway_url,
            username=options.sms_gateway_username or "",
            api_key=options.sms_gateway_api_key or "",
            sender=options.sms_sender,
        )
    return FileSmsChannel(options.sms_file)
