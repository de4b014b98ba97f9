"""The provider registry: each channel's providers, in the order the settings list them."""

from __future__ import annotations

from notifier.channels.base import Channel
from notifier.channels.email import EmailChannel
from notifier.channels.registry import channel_classes
from notifier.channels.sms import SmsChannel
from notifier.clock import Clock
from notifier.config import Settings
from notifier.delivery.breaker import Breaker
from notifier.delivery.failover import AllDown, FailoverChannel, Provider
from notifier.domain.messages import ChannelName


def _breaker(settings: Settings) -> Breaker:
    delivery = settings.delivery
    return Breaker(failures_to_open=delivery.breaker_failures, cooldown=delivery.breaker_cooldown)


def _providers(kind: type[Channel], settings: Settings) -> list[Provider]:
    if kind.name is ChannelName.EMAIL:
        return [
            Provider(relay.name, EmailChannel(relay), _breaker(settings))
            for relay in settings.email.relays()
        ]
    if kind.name is ChannelName.SMS:
        return [
            Provider(account.name, SmsChannel(account), _breaker(settings))
            for account in settings.sms.accounts()
        ]
    # A channel with one provider only (WhatsApp): still behind a breaker, so that its
    # outages cost no attempts either.
    channel = kind.from_settings(settings)
    return [] if channel is None else [Provider(kind.name.value, channel, _breaker(settings))]


def build_channels(
    settings: Settings, *, clock: Clock, on_all_down: AllDown | None = None
) -> dict[ChannelName, FailoverChannel]:
    """Every channel its settings turn on, over its providers in order: `[email]` then
    `[[email.providers]]`, `[sms]` then `[[sms.providers]]`."""
    made: dict[ChannelName, FailoverChannel] = {}
    for kind in channel_classes():
        providers = _providers(kind, settings)
        if providers:
            made[kind.name] = FailoverChannel(providers, clock=clock, on_all_down=on_all_down)
    return made
