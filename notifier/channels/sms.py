"""SMS through Twilio's Messages API (the shared part is `twilio_messages`).

An SMS is plain text, paid and split in segments (GSM-7 160/153 septets, UCS-2 70/67
units): planning refuses a message over `[sms] max_segments`, and Twilio refuses a body over
1600 characters (21617).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from notifier.channels.twilio_messages import (
    TWILIO_ERRORS,
    TwilioAccount,
    TwilioMessagesChannel,
    TwilioPayload,
)
from notifier.config import SmsSettings
from notifier.domain.messages import ChannelName

if TYPE_CHECKING:
    from notifier.config import Settings

__all__ = ["TWILIO_ERRORS", "SmsChannel", "SmsPayload"]

SmsPayload = TwilioPayload


class SmsChannel(TwilioMessagesChannel):
    name: ClassVar[ChannelName] = ChannelName.SMS
    label: ClassVar[str] = "SMS"
    max_chars: ClassVar[int | None] = 1600
    segmented: ClassVar[bool] = True
    inbound_prefix: ClassVar[str | None] = ""
    wire_prefix: ClassVar[str] = ""

    def __init__(self, settings: SmsSettings) -> None:
        super().__init__(
            TwilioAccount(
                account_sid=settings.account_sid,
                auth_token=settings.auth_token.get_secret_value(),
                from_number=settings.from_number,
                api_base_url=settings.api_base_url,
                concurrency=settings.concurrency,
                timeout=settings.timeout,
                more_from_numbers=tuple(settings.more_from_numbers),
                messaging_service_sid=settings.messaging_service_sid,
            )
        )
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsChannel:
        return cls(settings.sms)

    @classmethod
    def segment_limit(cls, settings: Settings) -> int | None:
        return settings.sms.max_segments
