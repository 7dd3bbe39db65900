"""Settings of the notifications service: the only module of it that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import Settings, SettingsError, load

SERVICE = "notifications"
# What this service does is not waited on within a fraction of a second, so it gathers work
# (the environment overrides): its relay publishes only outcome reports (notification.*), half a
# second of them per round; its consumers turn events into messages due within seconds, a
# quarter second of events per transaction and per dispatcher round.
LINGER = {"OUTBOX_LINGER": "0.5", "CONSUMER_LINGER": "0.25"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    return load(SERVICE, {**LINGER, **(os.environ if environ is None else environ)})


@dataclass(frozen=True)
class Options:
    """Channels and directories of one notifications instance."""

    registry_url: str | None = None  # this agency's registry (agency instances)
    registry_token: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "VIR Exchange <no-reply@vir-exchange.invalid>"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_dir: str = "var/mail"  # where e-mails are written when no SMTP_HOST is set
    sms_driver: str = "file"  # file | http
    sms_file: str = "var/sms.jsonl"
    sms_gateway_url: str | None = None
    sms_gateway_username: str | None = None
    sms_gateway_api_key: str | None = None
    sms_sender: str | None = None
    webhook_allowed_hosts: tuple[str, ...] = ()  # private/loopback hosts an operator allows
    public_base_url: str = "http://127.0.0.1:8020"
    link_secret: str = "change-me"  # signs unsubscribe links
    dispatch_interval: float = 5.0  # safety-net poll: new deliveries wake the dispatcher


def load_options(environ: Mapping[str, str] | None = None) -> Options:
    env = os.environ if environ is None else environ
    try:
        port = int(env.get("SMTP_PORT", "25"))
        interval = float(env.get("NOTIFY_DISPATCH_INTERVAL", "5.0"))
    except ValueError as exc:
        raise SettingsError(f"SMTP_PORT / NOTIFY_DISPATCH_INTERVAL: {exc}") from exc
    driver = env.get("SMS_DRIVER", "file")
    if driver not in ("file", "http"):
        raise SettingsError(f"SMS_DRIVER must be 'file' or 'http', got {driver!r}")
    return Options(
        registry_url=env.get("NOTIFY_REGISTRY_URL") or None,
        registry_token=env.get("NOTIFY_REGISTRY_TOKEN") or None,
        smtp_host=env.get("SMTP_HOST") or None,
        smtp_port=port,
        smtp_from=env.get("SMTP_FROM", Options.smtp_from),
        smtp_user=env.get("SMTP_USER") or None,
        smtp_password=env.get("SMTP_PASSWORD") or None,
        smtp_starttls=env.get("SMTP_STARTTLS", "false").lower() == "true",
        mail_dir=env.get("MAIL_DIR", Options.mail_dir),
        sms_driver=driver,
        sms_file=env.get("SMS_FILE", Options.sms_file),
        sms_gateway_url=env.get("SMS_GATEWAY_URL") or None,
        sms_gateway_username=env.get("SMS_GATEWAY_USERNAME") or None,
        sms_gateway_api_key=env.get("SMS_GATEWAY_API_KEY") or None,
        sms_sender=env.get("SMS_SENDER") or None,
        webhook_allowed_hosts=tuple(
            h.strip() for h in env.get("WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()
        ),
        public_base_url=env.get("NOTIFY_PUBLIC_URL", Options.public_base_url).rstrip("/"),
        link_secret=env.get("NOTIFY_LINK_SECRET", Options.link_secret),
        dispatch_interval=interval,
    )
