"""A planned message: what the engine decided to say, to whom, on which channel and when.

The engine builds these (engine/rows.py) and hands lists of them to `enqueue`, which turns
them into outbox rows; the grouper and the inbound-reply forwarder plan theirs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.domain.messages import ChannelName, DeliveryStatus


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    key: str  # the idempotency key: one row per key, ever
    customer_id: str
    channel: ChannelName
    recipient: str | None  # None when the customer has no address there (suppressed)
    locale: str
    rule: str  # the rule (or rules, for a digest) that planned it
    template: str
    subject_type: str  # what the message is about: "incident", "order", ...
    subject_id: str
    event_id: int | None  # the event it answers; None for follow-ups, digests and forwards
    status: DeliveryStatus
    planned_at: datetime
    # When it may go: None for a message that never goes on its own (suppressed, failed,
    # cancelled, standby).
    next_attempt_at: datetime | None
    reason: str | None = None  # why it is not simply pending
    subject: str | None = None  # the rendered email subject
    text: str | None = None  # the rendered plain-text body (email, SMS, WhatsApp)
    html: str | None = None  # the rendered HTML body (email)
    priority: int = 50  # higher is claimed first (the rule's `priority`)
    # After this it is not worth delivering: unsent, it expires; handed over, the provider
    # is told to drop it (Twilio ValidityPeriod). None: no limit.
    expires_at: datetime | None = None
