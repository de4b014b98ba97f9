"""The provider registry: each channel's providers, in the order the settings list them."""

from __future__ import annotations

from notifier.channels.base import Channel
from notifier.channels.email import EmailChannel
from notifier.channels.sms import SmsChannel
from notifier.clock import Clock
from notifier.config import Settings
from notifier.delivery.breaker import Breaker
from notifier.delivery.failover import AllDown, FailoverChannel, Provider
from notifier.domain.messages import ChannelName


def _breaker(settings: Settings) -> Breaker:
    delivery = settings.delivery
    return Breaker(failures_to_open=delivery.breaker_failures, cooldown=delivery.breaker_cooldown)


def build_channels(
    settings: Settings, *, clock: Clock, on_all_down: AllDown | None = None
) -> dict[ChannelName, FailoverChannel]:
    """One failover channel per channel: `[email]` then `[[email.providers]]`, `[sms]` then
    `[[sms.providers]]`. With one provider it is that provider behind a breaker."""
    email: list[Provider] = [
        Provider(relay.name, EmailChannel(relay), _breaker(settings))
        for relay in settings.email.relays()
    ]
    sms: list[Provider] = [
        Provider(account.name, SmsChannel(account), _breaker(settings))
        for account in settings.sms.accounts()
    ]
    return {
        ChannelName.EMAIL: FailoverChannel(email, clock=clock, on_all_down=on_all_down),
        ChannelName.SMS: FailoverChannel(sms, clock=clock, on_all_down=on_all_down),
    }


def provider_names(channels: dict[ChannelName, Channel]) -> dict[str, list[str]]:
    """channel -> its providers' names, in order (for the console and /metrics)."""
    return {
        str(name): [p.name for p in channel.providers]
        for name, channel in channels.items()
        if isinstance(channel, FailoverChannel)
    }
