"""Delivery channels: one contract (`Channel`), one module per provider.

`channel_class(name)` (in `registry`) gives the class that implements a channel, with its
capabilities. The provider modules are imported on first use, so that code needing only
the contract (or `RecordingChannel`) does not load aiosmtplib, twilio and aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from notifier.channels.base import Channel, RecordingChannel, RecordingSmsChannel
from notifier.channels.registry import UnknownChannel, channel_class, channel_classes

if TYPE_CHECKING:
    from notifier.channels.email import EmailChannel
    from notifier.channels.sms import SmsChannel
    from notifier.channels.whatsapp import WhatsAppChannel

__all__ = [
    "Channel",
    "EmailChannel",
    "RecordingChannel",
    "RecordingSmsChannel",
    "SmsChannel",
    "UnknownChannel",
    "WhatsAppChannel",
    "channel_class",
    "channel_classes",
]

_LAZY = {"EmailChannel": "email", "SmsChannel": "sms", "WhatsAppChannel": "whatsapp"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return channel_class(_LAZY[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
