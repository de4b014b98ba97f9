"""Messages customers send us by SMS or WhatsApp: STOP and START keywords, HELP, and
replies for support.

The channel is the one whose inbound address the sender has (`whatsapp:+1555...` is
WhatsApp, `+1555...` SMS: see `channels.registry.inbound_channel`). The keywords are
Twilio's (whole message, any case): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END and QUIT opt
the sender out of that channel; START, YES and UNSTOP opt them back in; HELP and
INFO get a short answer. Anything else is a reply: kept on the customer's timeline and
forwarded by email to `api.support_email`, through the outbox, so it survives a crash and
is retried like any message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.registry import inbound_channel
from notifier.config import Settings
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.errors import InputError
from notifier.outbox.enqueue import enqueue
from notifier.outbox.planned import PlannedMessage
from notifier.store import inbound as store
from notifier.store.customers import get_customer, set_opt_out
from notifier.store.preferences import clear_channel_opt_outs, ids_by_phone

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
SUPPORT_ID = "support"  # the outbox's customer id for mail to support


@dataclass(frozen=True, slots=True)
class InboundResult:
    kind: str  # stop | start | help | reply
    customers: list[str] = field(default_factory=list)  # who sent it (by phone)
    reply: str | None = None  # what to text back, if anything
    duplicate: bool = False  # a webhook retry: nothing was done again


def keyword_kind(body: str) -> str:
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return "reply"


def stop_reason(label: str) -> str:
    """Why a customer is opted out of the channel named `label` (its class's label)."""
    return f"replied STOP by {label}"


def help_text(settings: Settings) -> str:
    company = settings.company
    return (
        f"{company.name} service alerts. Reply STOP to stop texts, START to get them again. "
        f"Help: {company.support_url}"
    )


async def receive_sms(
    engine: AsyncEngine,
    settings: Settings,
    *,
    from_number: str,
    body: str,
    provider_sid: str,
    now: datetime,
) -> InboundResult:
    """Act on one inbound SMS or WhatsApp message, once per provider sid.

    Raises InputError for a sender address no channel takes replies from.
    """
    found = inbound_channel(from_number)
    if found is None:
        raise InputError(f"From: {from_number!r} is not a phone number or a channel address")
    channel_cls, phone = found
    channel = channel_cls.name
    kind = keyword_kind(body)
    async with engine.begin() as conn:
        ids = await ids_by_phone(conn, phone)
        new = await store.record_inbound(
            conn,
            provider_sid=provider_sid,
            customer_id=ids[0] if ids else None,
            from_number=from_number,
            body=body,
            kind=kind,
            now=now,
        )
        if not new:
            return InboundResult(kind, ids, duplicate=True)
        for customer_id in ids:
            if kind == "stop":
                await set_opt_out(conn, customer_id, channel, stop_reason(channel_cls.label), now)
            elif kind == "start":
                await clear_channel_opt_outs(conn, customer_id, channel)
        support = settings.api.support_email
        if kind == "reply" and support:
            name = (await get_customer(conn, ids[0])).name if ids else "unknown sender"
            await enqueue(
                conn,
                [
                    _forward(
                        settings, support, ids, name, from_number, body, provider_sid, now,
                        channel_cls.label,
                    )
                ],
            )
    return InboundResult(kind, ids, help_text(settings) if kind == "help" else None)


def _forward(
    settings: Settings,
    support: str,
    ids: list[str],
    name: str,
    from_number: str,
    body: str,
    provider_sid: str,
    now: datetime,
    label: str,
) -> PlannedMessage:
    who = f"{name} ({', '.join(ids)})" if ids else "an unknown number"
    text = (
        f"{who} replied by {label} from {from_number} at {now.isoformat()}:\n\n{body}\n\n"
        f"Their timeline: notifier timeline {ids[0] if ids else '-'}\n"
    )
    return PlannedMessage(
        key=f"inbound:{provider_sid}:forward",
        customer_id=SUPPORT_ID,
        channel=ChannelName.EMAIL,
        recipient=support,
        locale=settings.default_locale,
        rule="inbound-reply",
        template="inbound_reply",
        subject_type="customer",
        subject_id=ids[0] if ids else from_number,
        event_id=None,
        status=DeliveryStatus.PENDING,
        planned_at=now,
        next_attempt_at=now,
        subject=f"{label} reply from {name} ({from_number})",
        text=text,
    )
