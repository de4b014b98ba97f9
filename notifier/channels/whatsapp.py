"""WhatsApp through Twilio's Messages API: the same API as SMS, with `whatsapp:+E164` in
To and From.

A WhatsApp message is one body of up to 4096 characters, never split into segments, and
plain text (no subject, no HTML). It goes to the customer's phone number. Customers opt
out by sending STOP on WhatsApp (the inbound From is `whatsapp:+1555...`), which opts them
out of WhatsApp only; Twilio's 21610 does the same, as for SMS.

Settings: `[whatsapp]`, off unless `enabled`; the Twilio account and API address default
to the `[sms]` ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from notifier.channels.twilio_messages import TwilioAccount, TwilioMessagesChannel
from notifier.config import SmsSettings, WhatsAppSettings
from notifier.domain.messages import ChannelName

if TYPE_CHECKING:
    from notifier.config import Settings

__all__ = ["WHATSAPP_MAX_CHARS", "WhatsAppChannel"]

# Twilio: "The body of a WhatsApp message can be up to 4096 characters" (no segments).
WHATSAPP_MAX_CHARS = 4096
PREFIX = "whatsapp:"


class WhatsAppChannel(TwilioMessagesChannel):
    name: ClassVar[ChannelName] = ChannelName.WHATSAPP
    label: ClassVar[str] = "WhatsApp"
    max_chars: ClassVar[int | None] = WHATSAPP_MAX_CHARS
    inbound_prefix: ClassVar[str | None] = PREFIX
    wire_prefix: ClassVar[str] = PREFIX

    def __init__(self, settings: WhatsAppSettings, sms: SmsSettings | None = None) -> None:
        sms = sms or SmsSettings()
        token = settings.auth_token or sms.auth_token
        super().__init__(
            TwilioAccount(
                account_sid=settings.account_sid or sms.account_sid,
                auth_token=token.get_secret_value(),
                from_number=settings.from_number,
                api_base_url=settings.api_base_url or sms.api_base_url,
                concurrency=settings.concurrency,
                timeout=settings.timeout,
            )
        )
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> WhatsAppChannel | None:
        if not settings.whatsapp.enabled:
            return None
        return cls(settings.whatsapp, settings.sms)
