"""What flows from planning to the channels, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ChannelName(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class DeliveryStatus(StrEnum):
    """The closed vocabulary of an outbox row's status.

    pending    -> sending     claimed by a dispatcher (with a lease)
    sending    -> sent        the provider accepted it
    sending    -> pending     transient failure: retried at next_attempt_at
    sending    -> failed      permanent failure, or retries exhausted
    sent       -> delivered   the provider's status callback says it arrived
    sent       -> failed      the provider's status callback says it did not
    (planning) -> suppressed  never sent: no address, opted out (reason recorded)
    pending    -> cancelled   the condition that planned it no longer holds
    pending    -> superseded  a newer message about the same subject replaced it
    pending    -> deferred    held until the end of the customer's quiet hours
    (planning) -> standby     a fallback copy on another channel, kept in reserve
    standby    -> pending     the primary channel failed for good: the fallback goes
    standby    -> cancelled   the primary channel delivered: the fallback is not needed
    (planning) -> grouping    held for the customer's grouping window
    grouping   -> pending     the window closed with this message alone
    grouping   -> grouped     sent inside one combined message with the others (final)
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    DEFERRED = "deferred"
    STANDBY = "standby"
    GROUPING = "grouping"
    GROUPED = "grouped"


FINAL_STATUSES = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.SUPERSEDED,
        DeliveryStatus.GROUPED,
    }
)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A template rendered for one customer on one channel.

    Email uses subject, text and html; SMS and WhatsApp use text only (subject and html
    are None).
    """

    channel: ChannelName
    text: str
    subject: str | None = None
    html: str | None = None


# The one OutgoingMessage header SMS and WhatsApp understand: where Twilio posts delivery statuses.
STATUS_CALLBACK = "status_callback"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message ready to go, as a channel receives it.

    `key` is the outbox idempotency key; channels use it to keep retries recognisable
    (the same Message-ID on every attempt of one email).
    """

    key: str
    channel: ChannelName
    to: str
    text: str
    subject: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds the provider may keep it queued before dropping it (Twilio ValidityPeriod);
    # None: the provider's own default.
    valid_for: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What a provider said when it accepted a message."""

    provider_id: str | None = None
    detail: str | None = None
    # Which configured provider (relay, SMS account) carried it, when there are several.
    provider: str | None = None
