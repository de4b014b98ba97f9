"""Delivery channels: one contract (`Channel`), one module per provider.

`EmailChannel` and `SmsChannel` are imported on first use, so that code needing only the
contract (or `RecordingChannel`) does not load aiosmtplib, twilio and aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from notifier.channels.base import Channel, RecordingChannel, RecordingSmsChannel

if TYPE_CHECKING:
    from notifier.channels.email import EmailChannel
    from notifier.channels.sms import SmsChannel

__all__ = ["Channel", "EmailChannel", "RecordingChannel", "RecordingSmsChannel", "SmsChannel"]


def __getattr__(name: str) -> Any:
    if name == "EmailChannel":
        from notifier.channels.email import EmailChannel

        return EmailChannel
    if name == "SmsChannel":
        from notifier.channels.sms import SmsChannel

        return SmsChannel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
