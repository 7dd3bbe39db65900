"""The e-mail channel: one multipart (text + HTML) message per delivery over SMTP.

SMTP answers decide what happens next: a 4xx or a lost connection is temporary (RetryLater), a
5xx is final (Undeliverable). The Message-ID comes from the delivery's idempotency key, so a
message sent again after an unclear failure carries the same id and receivers can drop the copy.
Recipients' addresses never reach the delivery log: they are masked in every answer kept.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import smtplib
import ssl
import threading
import time
import uuid
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path

from services.notifications.config import Options
from services.notifications.domain.messages import (
    DeliveryFailed,
    Notification,
    Recipient,
    RetryLater,
    Undeliverable,
)
from services.notifications.rendering import render
from shared.private_files import write_private

TIMEOUT = 30


class _Wire(Compat32):
    """compat32 that writes a header already fit for the wire (7-bit, one line, within the
    limit: everything `build` sets) as it is, instead of re-folding it through a Header object
    (two thirds of a message's serialisation); any other header goes the standard way."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and value.isascii()
            and "\n" not in value
            and "\r" not in value
            and len(name) + 2 + len(value) <= (self.max_line_length or 78)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]


# CRLF line ends; headers may run to 998 characters on the wire, so a long unsubscribe URL stays
# one plain token (folding it at 78 would turn it into RFC 2047 words that mail clients do not
# follow). Bodies are quoted-printable UTF-8 (`_part`): no server can refuse them for being 8-bit.
WIRE = _Wire(linesep="\r\n", max_line_length=998)
UTF8_QP = Charset("utf-8")  # headers that are not ASCII: RFC 2047 quoted-printable words
UTF8_QP.header_encoding = QP
# 530 authentication required, 534 mechanism too weak, 535 credentials refused: our settings are
# at fault, not the recipient; retried while an operator fixes them.
AUTHENTICATION_CODES = frozenset({530, 534, 535})


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID stable across retries of one delivery, in the sender's domain."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = sender.rsplit("@", 1)[-1].strip(" >") if "@" in sender else "vir-exchange.invalid"
    return f"<{digest}@{domain}>"


def mask(text: str, address: str) -> str:
    """The answer without the recipient's address (the delivery log holds no contact detail)."""
    if not text:
        return text
    return re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)


class SmtpChannel:
    name = "email"

    def __init__(self, options: Options):
        if not options.smtp_host:
            raise ValueError("SmtpChannel needs SMTP_HOST")
        self.host: str = options.smtp_host
        self.options = options
        self._local = threading.local()

    def build(self, notification: Notification) -> bytes:
        """The message as it will be sent (also what tests and previews look at): multipart
        text + HTML, quoted-printable UTF-8 parts and RFC 2047 headers, so every byte is 7-bit.

        Built with the email package's compat32 classes: the same message as its EmailMessage
        API gives, in a quarter of the CPU (its header parsing dominated an e-mail's cost)."""
        recipient = notification.recipient
        try:
            rendered = render(notification, sms=False)
        except DeliveryFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - a template fault must not block the queue
            raise RetryLater(
                f"the message could not be written: {type(exc).__name__}: {exc}"
            ) from exc
        to = _to(recipient)
        # "=_" never occurs in quoted-printable text ("=" is always followed by two hex digits
        # or a line end), so this boundary is safe without searching the parts for it.
        msg = MIMEMultipart("alternative", boundary=f"=_vir_{uuid.uuid4().hex}")
        msg["Subject"] = _header(rendered.subject)
        msg["From"] = _address(*parseaddr(self.options.smtp_from))
        msg["To"] = _address(to.display_name, to.addr_spec)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(notification.idempotency_key, self.options.smtp_from)
        msg["Auto-Submitted"] = "auto-generated"
        unsubscribe = None if notification.mandatory else notification.links.get("unsubscribe")
        if unsubscribe:
            msg["List-Unsubscribe"] = f"<{unsubscribe}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        msg["Content-Language"] = rendered.language
        msg.attach(_part("plain", rendered.text))
        msg.attach(_part("html", rendered.html))
        return msg.as_bytes(policy=WIRE)

    def send(self, notification: Notification) -> str:
        msg = self.build(notification)
        address = notification.recipient.address.strip()
        smtp, reused = self._connection(address)
        try:
            code, answer = self._transact(smtp, msg, address, greet=not reused)
        except _StaleConnection:
            # The server closed the kept connection while it was idle: nothing of this message
            # was sent, so a fresh connection tries at once.
            self._drop()
            smtp, _ = self._connection(address)
            code, answer = self._transact(smtp, msg, address, greet=True)
        self._local.idle_since = time.monotonic()
        return mask(f"{code} {_text(answer)}", address)

    # One connection per thread, kept open between messages (connecting, greeting, EHLO,
    # STARTTLS and AUTH once instead of per message), closed after KEEP_IDLE seconds unused or
    # after any failure.
    KEEP_IDLE = 30.0

    def _connection(self, address: str) -> tuple[smtplib.SMTP, bool]:
        smtp = getattr(self._local, "smtp", None)
        idle = time.monotonic() - getattr(self._local, "idle_since", 0.0)
        if smtp is not None and idle < self.KEEP_IDLE:
            return smtp, True
        self._drop()
        try:
            smtp = smtplib.SMTP(self.host, self.options.smtp_port, timeout=TIMEOUT)
        except smtplib.SMTPResponseException as exc:  # the greeting was a refusal
            self._classify(exc.smtp_code, exc.smtp_error, "connect", address)
            raise  # unreachable: _classify raised
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryLater(f"SMTP server unreachable: {exc.__class__.__name__}: {exc}") from exc
        self._local.smtp = smtp
        return smtp, False

    def _drop(self) -> None:
        smtp = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            _close(smtp)

    def close(self) -> None:
        """Close this thread's kept connection (a dispatcher stopping)."""
        self._drop()

    def _transact(
        self, smtp: smtplib.SMTP, msg: bytes, address: str, greet: bool
    ) -> tuple[int, bytes | str]:
        """One message on `smtp`. Raises _StaleConnection when a kept connection turns out
        closed before anything of the message was sent; closes the connection on any failure."""
        try:
            if greet:
                smtp.ehlo()
                if self.options.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.options.smtp_user:
                    smtp.login(self.options.smtp_user, self.options.smtp_password or "")
            try:
                reply = smtp.mail(_addr_spec(self.options.smtp_from))
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                if greet:
                    raise
                raise _StaleConnection(str(exc)) from exc
            if not greet and reply[0] in (421, -1):  # "closing channel" on a kept connection
                raise _StaleConnection(f"{reply[0]} {_text(reply[1])}")
            self._expect(reply, (250,), "MAIL FROM", address)
            self._expect(smtp.rcpt(address), (250, 251), "RCPT TO", address)
            reply = smtp.data(msg)
            self._expect(reply, (250,), "DATA", address)
            return reply
        except _StaleConnection:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            # Our credentials, not the recipient: retried while an operator fixes the settings.
            raise RetryLater("SMTP server refused our credentials", _answer(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            self._classify(exc.smtp_code, exc.smtp_error, "SMTP", address)
            raise  # unreachable: _classify raised
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise RetryLater(f"SMTP connection lost: {exc.__class__.__name__}: {exc}") from exc
        except DeliveryFailed:
            self._drop()  # refused mid-transaction: the next message starts on a clean line
            raise

    def _expect(
        self, reply: tuple[int, bytes | str], ok: tuple[int, ...], step: str, address: str
    ) -> None:
        code, answer = reply
        if code not in ok:
            self._classify(code, answer, step, address)

    @staticmethod
    def _classify(code: int, answer: bytes | str, step: str, address: str) -> None:
        said = mask(f"{code} {_text(answer)}", address)
        if 400 <= code < 500 or code < 0:
            raise RetryLater(f"{step}: temporary SMTP failure {code}", said)
        if code in AUTHENTICATION_CODES:
            raise RetryLater(f"{step}: SMTP server wants other credentials ({code})", said)
        raise Undeliverable(f"{step}: SMTP server refused the message ({code})", said)


def _part(subtype: str, text: str) -> MIMENonMultipart:
    """A quoted-printable UTF-8 text part, encoded by binascii's C encoder (the email
    package's own encoder works a character at a time in Python: a third of a message)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


def _header(text: str) -> str:
    """ASCII as it is; anything else as RFC 2047 encoded words."""
    return text if text.isascii() else Header(text, UTF8_QP).encode()


def _address(name: str, addr_spec: str) -> str:
    return formataddr((name, addr_spec), charset=UTF8_QP) if name else addr_spec


def _to(recipient: Recipient) -> Address:
    """The To header; an address that cannot be one is final (the registry must correct it)."""
    address = recipient.address.strip()
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(c.isspace() or c in "<>,;" for c in address):
        raise Undeliverable("the e-mail address on file is not valid")
    try:
        return Address(display_name=recipient.name or "", username=local, domain=domain)
    except (ValueError, TypeError) as exc:
        raise Undeliverable("the e-mail address on file is not valid") from exc


class _StaleConnection(Exception):
    """A kept connection was closed by the server while idle; nothing was sent on it."""


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; whatever the server says then changes nothing about the delivery."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _addr_spec(header: str) -> str:
    match = re.search(r"<([^>]+)>", header)
    return (match.group(1) if match else header).strip()


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


def _answer(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


class FileMailChannel(SmtpChannel):
    """Development driver: writes each e-mail as an .eml file under MAIL_DIR instead of sending.

    Used when no SMTP_HOST is set (the embedded demo): open the files with any mail client."""

    def __init__(self, options: Options, folder: str):
        self.host = ""
        self.options = options
        self.folder = Path(folder)

    def send(self, notification: Notification) -> str:
        msg = self.build(notification)
        path = self.folder / f"{notification.delivery_id}.eml"
        write_private(path, msg)
        return f"written to {path.name}"
