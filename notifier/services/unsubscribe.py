"""Unsubscribe links (RFC 8058) and the preference page, behind one signed token.

A token names a customer, a category and a channel, and carries an HMAC-SHA256 of them
under `api.unsubscribe_secret`:

    base64url("incidents:email:<customer id>") "." base64url(HMAC(secret, "v1\\0" + that))

Nobody without the secret can make one for another customer, category or channel, and
changing a single character breaks it (the MAC is compared in constant time). Tokens do
not expire: a link in a year-old email must still unsubscribe. Rotating the secret voids
every link already sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import CATEGORIES
from notifier.domain.messages import ChannelName
from notifier.errors import NotifierError
from notifier.store import customers as customer_store
from notifier.store import preferences as store
from notifier.store.customers import ALL_CATEGORIES

_DOMAIN = b"notifier-unsubscribe-v1\0"
ONE_CLICK_REASON = "unsubscribe link"
PAGE_REASON = "preference page"


class InvalidToken(NotifierError):
    """A link token that was not made by us, or was altered."""


@dataclass(frozen=True, slots=True)
class Claims:
    customer_id: str
    category: str
    channel: ChannelName


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise InvalidToken("not a link we made")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not a link we made") from None


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), _DOMAIN + payload, hashlib.sha256).digest()


def make_token(secret: str, customer_id: str, category: str, channel: ChannelName) -> str:
    payload = f"{category}:{ChannelName(channel).value}:{customer_id}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_token(secret: str, token: str) -> Claims:
    """The claims of a token we signed; InvalidToken for anything else."""
    payload_part, dot, mac_part = token.partition(".")
    if not dot or len(token) > 1024:
        raise InvalidToken("not a link we made")
    payload, mac = _unb64(payload_part), _unb64(mac_part)
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidToken("not a link we made, or it was altered")
    category, _, rest = payload.decode("utf-8", "replace").partition(":")
    channel, _, customer_id = rest.partition(":")
    # Signed by us, so well formed; checked anyway, in case the format ever changes.
    if category not in CATEGORIES or channel not in set(ChannelName) or not customer_id:
        raise InvalidToken("not a link we made")
    return Claims(customer_id, category, ChannelName(channel))


async def unsubscribe(engine: AsyncEngine, secret: str, token: str, now: datetime) -> Claims:
    """One click: the customer no longer gets `channel` messages of `category`."""
    claims = read_token(secret, token)
    async with engine.begin() as conn:
        await customer_store.set_opt_out(
            conn, claims.customer_id, claims.channel, ONE_CLICK_REASON, now, claims.category
        )
    return claims


Choices = dict[str, dict[str, bool]]  # category -> channel -> receives


async def preferences(engine: AsyncEngine, secret: str, token: str) -> tuple[Claims, Choices]:
    """What the customer receives, per category and channel."""
    claims = read_token(secret, token)
    async with engine.connect() as conn:
        declined = await store.opt_out_choices(conn, claims.customer_id)
    return claims, {
        category: {
            channel.value: (channel.value, ALL_CATEGORIES) not in declined
            and (channel.value, category) not in declined
            for channel in ChannelName
        }
        for category in CATEGORIES
    }


async def save_preferences(
    engine: AsyncEngine,
    secret: str,
    token: str,
    wanted: Mapping[str, set[ChannelName]],
    now: datetime,
) -> Choices:
    """Make the customer's opt-outs exactly the complement of `wanted` (category ->
    channels they want). A channel wanted for no category becomes a "*" opt-out."""
    claims = read_token(secret, token)
    cid = claims.customer_id
    async with engine.begin() as conn:
        await store.opt_out_choices(conn, cid)  # NotFound for a customer since deleted
        for channel in ChannelName:
            allowed = {c for c in CATEGORIES if channel in wanted.get(c, set())}
            if not allowed:
                await customer_store.set_opt_out(conn, cid, channel, PAGE_REASON, now)
                for category in CATEGORIES:
                    await customer_store.clear_opt_out(conn, cid, channel, category)
                continue
            await customer_store.clear_opt_out(conn, cid, channel, ALL_CATEGORIES)
            for category in CATEGORIES:
                if category in allowed:
                    await customer_store.clear_opt_out(conn, cid, channel, category)
                else:
                    await customer_store.set_opt_out(
                        conn, cid, channel, PAGE_REASON, now, category
                    )
    return (await preferences(engine, secret, token))[1]
