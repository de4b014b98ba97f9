"""Visitors subscribe themselves to services from the status page, by email or SMS.

    subscribe(...)      records a pending subscription and sends the confirmation: a link
                        by email, a 6-digit code by SMS; nothing else goes to an address
                        before it is confirmed
    confirm / verify    the link's token, or the code: the subscriber becomes a customer
                        (id "sub-N") with the chosen services, reached by the same rules
    manage / change / cancel   with the signed token every manage link carries

Abuse: at most MAX_SENDS confirmations per address a day; at most MAX_ATTEMPTS wrong codes
per code sent; tokens are signed (HMAC-SHA256 with `api.unsubscribe_secret`) and expire.
The answer to `subscribe` is the same whether the address is new, pending or already
subscribed (an already subscribed address gets a manage link instead of a confirmation),
so nobody learns from the page whether an address is subscribed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.config import Settings
from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.errors import InputError
from notifier.outbox.enqueue import enqueue
from notifier.outbox.planned import PlannedMessage
from notifier.store import services as service_store
from notifier.store import subscriptions as store
from notifier.store.customers import upsert_customers

CHANNELS = ("email", "sms")
MAX_SENDS = 3  # confirmation messages per address per day
MAX_ATTEMPTS = 5  # wrong codes per code sent
MAX_SERVICES = 50
CONFIRM_FOR = timedelta(hours=48)
MANAGE_FOR = timedelta(days=365)
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f<>]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


class NotAvailable(InputError):
    """Subscriptions need `api.unsubscribe_secret` and `api.public_base_url`."""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    channel: str
    address: str
    services: list[str]
    confirmed: bool
    cancelled: bool


def _secret(settings: Settings) -> bytes:
    secret = settings.api.unsubscribe_secret
    if secret is None or settings.api.public_base_url is None:
        raise NotAvailable("subscriptions are not available on this page")
    return secret.get_secret_value().encode()


def sign(settings: Settings, purpose: str, subscription_id: int, expires: datetime) -> str:
    body = f"{purpose}.{subscription_id}.{int(expires.timestamp())}"
    mac = hmac.new(_secret(settings), body.encode(), hashlib.sha256).digest()[:18]
    return f"{subscription_id}.{int(expires.timestamp())}." + base64.urlsafe_b64encode(
        mac
    ).decode().rstrip("=")


def check(settings: Settings, purpose: str, token: str, now: datetime) -> int:
    """The subscription id a token of `purpose` names; InputError if forged or expired."""
    parts = token[:200].split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise InputError("token: not a valid link")
    subscription_id, expires = int(parts[0]), int(parts[1])
    expected = sign(settings, purpose, subscription_id, datetime.fromtimestamp(expires, now.tzinfo))
    if not hmac.compare_digest(expected, token):
        raise InputError("token: not a valid link")
    if expires < now.timestamp():
        raise InputError("token: this link has expired; subscribe again")
    return subscription_id


def _code_hash(settings: Settings, subscription_id: int, code: str) -> str:
    return hmac.new(
        _secret(settings), f"code.{subscription_id}.{code}".encode(), "sha256"
    ).hexdigest()


def normalise(settings: Settings, channel: str, address: str) -> str:
    address = address.strip()
    if channel == "email":
        if len(address) > 320 or not _EMAIL.match(address):
            raise InputError("address: not an email address")
        local, _, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}"
    if channel == "sms":
        try:
            number = phonenumbers.parse(address[:40], settings.sms.default_region)
        except phonenumbers.NumberParseException:
            raise InputError("address: not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise InputError("address: not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InputError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")


async def _services(engine: AsyncEngine, keys: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(k.strip() for k in keys if k.strip()))
    if not chosen:
        raise InputError("services: choose at least one service")
    if len(chosen) > MAX_SERVICES:
        raise InputError(f"services: at most {MAX_SERVICES}")
    async with engine.connect() as conn:
        unknown = await service_store.unknown_keys(conn, chosen)
    if unknown:
        raise InputError(f"services: {unknown[0]!r} is not a service of this page")
    return chosen


def _locale(locale: str) -> str:
    return locale if locale in ("en", "fr") else "en"


async def subscribe(
    engine: AsyncEngine,
    settings: Settings,
    *,
    channel: str,
    address: str,
    services: Sequence[str],
    locale: str,
    now: datetime,
) -> str | None:
    """Record the wish and send a confirmation. Returns, for SMS, the token of the page
    where the code is typed; the same whatever the address's state."""
    _secret(settings)
    clean = normalise(settings, channel, address)
    chosen = await _services(engine, services)
    lang = _locale(locale)
    async with engine.begin() as conn:
        row = await store.find(conn, channel, clean, for_update=True)
        if row is None:
            subscription_id = await store.create(
                conn,
                {
                    "channel": channel,
                    "address": clean,
                    "services": chosen,
                    "locale": lang,
                    "attempts": 0,
                    "sends": 0,
                    "window_start": now,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            sends, window_start, confirmed = 0, now, False
        else:
            subscription_id = row.id
            sends, window_start = row.sends, row.window_start
            confirmed = row.confirmed_at is not None
        if now - window_start >= timedelta(days=1):
            sends, window_start = 0, now
        verify = sign(settings, "verify", subscription_id, now + CONFIRM_FOR)
        if sends >= MAX_SENDS:
            return verify if channel == "sms" else None  # quietly: same answer
        values: dict[str, Any] = {"sends": sends + 1, "window_start": window_start}
        values["updated_at"] = now
        if not confirmed:
            # The wish is what the confirmation confirms: the latest one.
            values |= {"services": chosen, "locale": lang}
        code = None
        if channel == "sms" and not confirmed:
            code = f"{secrets.randbelow(1_000_000):06d}"
            values |= {"code_hash": _code_hash(settings, subscription_id, code), "attempts": 0}
        await store.change(conn, subscription_id, values)
        message = _message(
            settings,
            channel=channel,
            address=clean,
            locale=lang,
            subscription_id=subscription_id,
            confirmed=confirmed,
            code=code,
            n=sends + 1,
            now=now,
        )
        await enqueue(conn, [message])
    return verify if channel == "sms" else None


_TEXTS = {
    "en": {
        "confirm_subject": "Confirm your subscription to {company} status updates",
        "confirm": "Someone (we hope you) asked to hear from {company} when its services "
        "have a problem. Confirm here: {link}\n\nIf it was not you, ignore this message: "
        "you will hear nothing more.",
        "manage_subject": "Your {company} status subscription",
        "manage": "You are already subscribed. Change or cancel your subscription here: {link}",
        "code": "{company} status: your code is {code}. Ignore this if you did not ask.",
        "manage_sms": "{company} status: you are already subscribed. Manage: {link}",
    },
    "fr": {
        "confirm_subject": "Confirmez votre abonnement aux nouvelles de {company}",
        "confirm": "Quelqu'un (vous, nous l'espérons) a demandé à être prévenu quand les "
        "services de {company} ont un problème. Confirmez ici : {link}\n\nSi ce n'est pas "
        "vous, ignorez ce message : vous ne recevrez rien d'autre.",
        "manage_subject": "Votre abonnement aux nouvelles de {company}",
        "manage": "Vous êtes déjà abonné. Modifiez ou annulez votre abonnement ici : {link}",
        "code": "{company} : votre code est {code}. Ignorez ce message si vous n'avez rien "
        "demande.",
        "manage_sms": "{company} : vous etes deja abonne. Gerer : {link}",
    },
}


def _message(
    settings: Settings,
    *,
    channel: str,
    address: str,
    locale: str,
    subscription_id: int,
    confirmed: bool,
    code: str | None,
    n: int,
    now: datetime,
) -> PlannedMessage:
    t = _TEXTS[locale]
    base = settings.api.public_base_url
    company = settings.company.name
    if confirmed:
        token = sign(settings, "manage", subscription_id, now + MANAGE_FOR)
        link = f"{base}/status/subscription/{token}"
        subject = t["manage_subject"].format(company=company)
        text = t["manage" if channel == "email" else "manage_sms"].format(
            company=company, link=link
        )
    elif channel == "email":
        token = sign(settings, "confirm", subscription_id, now + CONFIRM_FOR)
        link = f"{base}/status/subscribe/confirm/{token}"
        subject = t["confirm_subject"].format(company=company)
        text = t["confirm"].format(company=company, link=link)
    else:
        subject = None
        text = t["code"].format(company=company, code=code)
    return PlannedMessage(
        key=f"subscription:{subscription_id}:{int(now.timestamp())}:{n}",
        customer_id=f"subscription-{subscription_id}",
        channel=ChannelName.EMAIL if channel == "email" else ChannelName.SMS,
        recipient=address,
        locale=locale,
        rule="status-subscription",
        template="status_subscription",
        subject_type="subscription",
        subject_id=str(subscription_id),
        event_id=None,
        status=DeliveryStatus.PENDING,
        planned_at=now,
        next_attempt_at=now,
        subject=subject if channel == "email" else None,
        text=text,
    )


async def confirm(engine: AsyncEngine, settings: Settings, token: str, *, now: datetime) -> str:
    """Follow an email's confirmation link; returns the manage token."""
    return await _activate(engine, settings, check(settings, "confirm", token, now), now=now)


async def verify(
    engine: AsyncEngine, settings: Settings, token: str, code: str, *, now: datetime
) -> str:
    """Check an SMS code; returns the manage token."""
    subscription_id = check(settings, "verify", token, now)
    code = code.strip()[:12]
    async with engine.begin() as conn:
        row = await store.get(conn, subscription_id, for_update=True)
        if row is None or row.code_hash is None or row.attempts >= MAX_ATTEMPTS:
            raise InputError("code: ask for a new code")
        good = hmac.compare_digest(row.code_hash, _code_hash(settings, subscription_id, code))
        if not good:
            await store.change(conn, subscription_id, {"attempts": row.attempts + 1})
    if not good:
        raise InputError("code: that is not the code we sent")
    return await _activate(engine, settings, subscription_id, now=now)


async def _activate(
    engine: AsyncEngine, settings: Settings, subscription_id: int, *, now: datetime
) -> str:
    async with engine.begin() as conn:
        row = await store.get(conn, subscription_id, for_update=True)
        if row is None:
            raise InputError("token: not a valid link")
        customer_id = row.customer_id or f"sub-{subscription_id}"
        await upsert_customers(conn, [_customer(row, customer_id, row.services)], now)
        await store.change(
            conn,
            subscription_id,
            {"customer_id": customer_id, "confirmed_at": now, "code_hash": None, "updated_at": now},
        )
    return sign(settings, "manage", subscription_id, now + MANAGE_FOR)


def _customer(row: Any, customer_id: str, services: Sequence[str]) -> Customer:
    return Customer(
        id=customer_id,
        name="Subscriber",
        email=row.address if row.channel == "email" else None,
        phone=row.address if row.channel == "sms" else None,
        locale=row.locale,
        timezone="UTC",
        services=frozenset(services),
    )


async def show(
    engine: AsyncEngine, settings: Settings, token: str, *, now: datetime
) -> Subscription:
    subscription_id = check(settings, "manage", token, now)
    async with engine.connect() as conn:
        row = await store.get(conn, subscription_id)
    if row is None:
        raise InputError("token: not a valid link")
    return Subscription(
        id=row.id,
        channel=row.channel,
        address=row.address,
        services=list(row.services),
        confirmed=row.confirmed_at is not None,
        cancelled=row.confirmed_at is None and row.customer_id is not None,
    )


async def change(
    engine: AsyncEngine,
    settings: Settings,
    token: str,
    services: Sequence[str],
    *,
    now: datetime,
) -> Subscription:
    """New services (none at all: use `cancel`)."""
    subscription_id = check(settings, "manage", token, now)
    chosen = await _services(engine, services)
    async with engine.begin() as conn:
        row = await store.get(conn, subscription_id, for_update=True)
        if row is None or row.customer_id is None:
            raise InputError("token: not a valid link")
        await upsert_customers(conn, [_customer(row, row.customer_id, chosen)], now)
        await store.change(
            conn, subscription_id, {"services": chosen, "confirmed_at": now, "updated_at": now}
        )
    return await show(engine, settings, token, now=now)


async def cancel(engine: AsyncEngine, settings: Settings, token: str, *, now: datetime) -> None:
    """No more messages: the customer keeps no service, the subscription is closed."""
    subscription_id = check(settings, "manage", token, now)
    async with engine.begin() as conn:
        row = await store.get(conn, subscription_id, for_update=True)
        if row is None or row.customer_id is None:
            raise InputError("token: not a valid link")
        await upsert_customers(conn, [_customer(row, row.customer_id, [])], now)
        await store.change(conn, subscription_id, {"confirmed_at": None, "updated_at": now})
