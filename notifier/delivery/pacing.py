"""The dispatcher's pacer: each send waits for its provider account's turn.

A channel's account and capacity come from the settings (`[email.capacity]`,
`[sms.capacity]`); a channel without a rate is not paced. An SMS costs its segments
(GSM-7 or UCS-2, counted as the templates' lint counts them), an email one unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.clock import Clock
from notifier.config import CapacitySettings, Settings
from notifier.delivery.limiter import Capacity, DatabaseLimiter, Grant, Limiter, MemoryLimiter
from notifier.domain.messages import ChannelName
from notifier.templating.sms_length import sms_segments

# A lane holds at most this many seconds of its account's capacity claimed ahead: what is
# claimed is no longer replaceable by newer news, so it must be sent soon after.
CLAIM_AHEAD_SECONDS = 1.0
# Longest single sleep while waiting for a turn: a slow-down lifted, or a stop, is noticed.
_MAX_NAP = 1.0


@dataclass(frozen=True, slots=True)
class Account:
    """A provider account as the pacer sees it: its limiter key and what it may carry."""

    key: str
    capacity: Capacity
    provider_queue_seconds: float


def accounts(settings: Settings) -> dict[ChannelName, Account]:
    """The paced accounts of the settings, per channel (channels without a rate: none)."""
    found: dict[ChannelName, Account] = {}
    email = settings.email
    if (account := _account(f"email:{email.host}:{email.port}", email.capacity, 1)) is not None:
        found[ChannelName.EMAIL] = account
    sms = settings.sms
    sms_key = f"sms:{sms.account_sid}:{sms.messaging_service_sid or sms.from_number}"
    if (account := _account(sms_key, sms.capacity, sms.senders)) is not None:
        found[ChannelName.SMS] = account
    return found


def _account(key: str, settings: CapacitySettings, senders: int) -> Account | None:
    if settings.rate is None:
        return None
    capacity = Capacity(
        rate=settings.rate * senders, burst=settings.burst, daily_quota=settings.daily_quota
    )
    return Account(key, capacity, settings.provider_queue.total_seconds())


def cost_of(channel: ChannelName, text: str) -> int:
    """What one message costs against its account: SMS segments, else one."""
    if channel is ChannelName.SMS:
        return max(1, sms_segments(text).segments)
    return 1


def pacer_for(settings: Settings, engine: AsyncEngine, clock: Clock) -> Pacer | None:
    """The pacer of these settings, or None when no channel has a capacity. On PostgreSQL
    every worker shares the limiter through the database; SQLite has one worker."""
    paced = accounts(settings)
    if not paced:
        return None
    shared = engine.dialect.name == "postgresql"
    limiter: Limiter = DatabaseLimiter(engine) if shared else MemoryLimiter()
    return Pacer(limiter, paced, clock)


class Pacer:
    """Grants turns per channel from a limiter (in memory, or shared in the database)."""

    def __init__(
        self, limiter: Limiter, accounts: dict[ChannelName, Account], clock: Clock
    ) -> None:
        self.limiter = limiter
        self.accounts = accounts
        self._clock = clock

    def paces(self, channel: ChannelName) -> bool:
        return channel in self.accounts

    def claim_ahead(self, channel: ChannelName) -> int | None:
        """How many messages a lane may hold claimed: about a second of capacity (each
        worker's lane does: newer news waits behind what they all hold)."""
        account = self.accounts.get(channel)
        if account is None:
            return None
        capacity = account.capacity
        return max(1, math.ceil(capacity.rate * CLAIM_AHEAD_SECONDS), capacity.burst)

    async def try_turn(self, channel: ChannelName, text: str) -> Grant:
        """A turn now, or how long until one (never waits)."""
        account = self.accounts.get(channel)
        if account is None:
            return Grant(wait=0.0, at=self._now())
        cost = cost_of(channel, text)
        return await self.limiter.take(account.key, cost, account.capacity, self._now())

    async def wait_turn(self, channel: ChannelName, text: str) -> None:
        """Reserve this message's next turn on its account and wait for it. (A turn past
        the daily quota is not reserved: it is asked for again after a nap.)"""
        account = self.accounts.get(channel)
        if account is None:
            return
        cost = cost_of(channel, text)
        while True:
            grant = await self.limiter.take(
                account.key, cost, account.capacity, self._now(), reserve=True
            )
            if grant.granted:
                if grant.wait > 0:
                    await self._clock.sleep(grant.wait)
                return
            await self._clock.sleep(min(grant.wait, _MAX_NAP))

    async def slow_down(
        self, provider: ChannelName | str, factor: float, for_seconds: float
    ) -> None:
        """A provider said "slow down" (throttling answers): stretch its account's interval
        by `factor` (at least 1) for `for_seconds`, for every worker sharing the limiter.
        `provider` is a channel, or an account's key."""
        channels = {channel.value: channel for channel in ChannelName}
        account = self.accounts.get(channels[provider]) if provider in channels else None
        if account is None:
            account = next((a for a in self.accounts.values() if a.key == provider), None)
        if account is not None:
            await self.limiter.slow_down(account.key, factor, for_seconds, self._now())

    def _now(self) -> float:
        return self._clock.now().timestamp()
