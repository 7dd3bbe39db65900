"""Which channels an instance gets from its options (e-mail, SMS, webhooks, the partner feed)."""

from __future__ import annotations

from services.notifications.config import Options
from services.notifications.domain.messages import Channel
from shared.runtime import Runtime


def build(runtime: Runtime, options: Options) -> dict[str, Channel]:
    """An agency's instance writes to people (e-mail, SMS); the network instance to partners
    (webhooks, the vir.public feed) and, by e-mail, to their owners. Without SMTP_HOST, e-mails
    are written as files under MAIL_DIR."""
    from services.notifications.adapters.email import FileMailChannel, SmtpChannel

    email: Channel = (
        SmtpChannel(options) if options.smtp_host else FileMailChannel(options, options.mail_dir)
    )
    channels: dict[str, Channel] = {"email": email}
    if runtime.settings.agency_code:
        from services.notifications.adapters.sms import make_sms_channel

        channels["sms"] = make_sms_channel(options)
    else:
        from services.notifications.adapters.public_feed import PublicFeedChannel
        from services.notifications.adapters.webhook import WebhookChannel

        channels["webhook"] = WebhookChannel(allowed_hosts=options.webhook_allowed_hosts)
        from shared.security import Signer

        channels["amqp"] = PublicFeedChannel(runtime.publisher(), Signer(runtime.signing_key))
    return channels
