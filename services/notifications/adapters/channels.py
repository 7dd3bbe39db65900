"""Which channels an instance gets from its options (e-mail, SMS, webhooks, the partner feed)."""

from __future__ import annotations

from services.notifications.config import Options
from services.notifications.domain.messages import Channel
from shared.runtime import Runtime


def build(runtime: Runtime, options: Options) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if runtime.settings.agency_code:
        from services.notifications.adapters.email import SmtpChannel
        from services.notifications.adapters.sms import make_sms_channel

        if options.smtp_host:
            channels["email"] = SmtpChannel(options)
        channels["sms"] = make_sms_channel(options)
    else:
        from services.notifications.adapters.public_feed import PublicFeedChannel
        from services.notifications.adapters.webhook import WebhookChannel

        channels["webhook"] = WebhookChannel()
        channels["amqp"] = PublicFeedChannel(runtime.publisher())
    return channels
