"""Failover: one channel over several providers, in order, each behind its breaker.

A message goes through the first provider whose breaker lets it; a provider that is down
(refused connection, 5xx, timeout) hands the message to the next at once, in the same send,
so a dying relay costs no message an attempt. When every provider is open, the send raises
`ProvidersUnavailable` (a ProviderUnavailable) carrying the time until the first of them
may take messages again: the outbox keeps the message waiting that long without counting an
attempt.

A provider that throttles is up: it is paused, and its messages wait for it (a
ProviderThrottled with the pause as Retry-After) rather than spill onto the next provider,
which is a backup for outages, often with a smaller quota or a higher price.

What carried each message is returned in `DeliveryResult.provider`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from notifier.channels.base import Channel
from notifier.clock import Clock
from notifier.delivery.breaker import Breaker, BreakerState
from notifier.domain.messages import ChannelName, DeliveryResult, OutgoingMessage
from notifier.errors import (
    DeliveryError,
    ProviderThrottled,
    ProviderUnavailable,
    TransientDeliveryError,
)

log = logging.getLogger(__name__)


class ProvidersUnavailable(ProviderUnavailable):
    """Every provider of a channel is down or paused: wait, the message is fine."""


@dataclass
class Provider:
    name: str
    channel: Channel
    breaker: Breaker


@dataclass(frozen=True)
class ProviderView:
    """A provider as operations see it (/metrics, the console)."""

    channel: str
    name: str
    state: str  # closed, open, half_open
    throttled: bool
    sent: int
    failures: int


# Called once when every provider of a channel becomes unavailable, with the channel and
# why; the episode ends when one of them carries a message again.
AllDown = Callable[[ChannelName, str], None]


class FailoverChannel(Channel):
    """A channel made of providers of that channel, tried in order."""

    name: ClassVar[ChannelName]  # set per instance: the providers' channel

    def __init__(
        self, providers: Sequence[Provider], *, clock: Clock, on_all_down: AllDown | None = None
    ) -> None:
        super().__init__()
        if not providers:
            raise ValueError("a failover channel needs at least one provider")
        kinds = {p.channel.name for p in providers}
        if len(kinds) != 1:
            raise ValueError(f"providers of different channels: {sorted(kinds)}")
        self.name = providers[0].channel.name  # type: ignore[misc]  # per instance on purpose
        self.providers = list(providers)
        self._clock = clock
        self._on_all_down = on_all_down
        self._all_down = False
        self.sent_by: dict[str, int] = {p.name: 0 for p in providers}
        self.failed_over = 0  # messages a later provider carried because an earlier could not

    def __getattr__(self, attribute: str) -> Any:
        # What the channel can do (label, address field, limits) is its first provider's:
        # the providers of one channel share their capabilities.
        providers = self.__dict__.get("providers")
        if not providers:
            raise AttributeError(attribute)
        return getattr(providers[0].channel, attribute)

    @property
    def concurrency(self) -> int:
        return max(int(getattr(p.channel, "concurrency", 8)) for p in self.providers)

    async def open_transport(self) -> None:
        # Members start on their first send: a secondary relay that is never needed is
        # never connected to.
        pass

    async def close_transport(self) -> None:
        for provider in self.providers:
            await provider.channel.close()

    def views(self) -> list[ProviderView]:
        now = self._clock.now()
        return [
            ProviderView(
                channel=str(self.name),
                name=p.name,
                state=p.breaker.state.value,
                throttled=p.breaker.paused_until is not None and now < p.breaker.paused_until,
                sent=self.sent_by[p.name],
                failures=p.breaker.failures,
            )
            for p in self.providers
        ]

    # -- the template steps: the payload is the message; transport picks the provider ------

    def build_payload(self, message: OutgoingMessage) -> OutgoingMessage:
        return message

    async def transport(self, payload: OutgoingMessage) -> DeliveryResult:
        tried: list[str] = []
        last: DeliveryError | None = None
        for index, provider in enumerate(self.providers):
            breaker = provider.breaker
            if breaker.paused(self._clock.now()):
                raise self._throttled(provider, None)
            if not breaker.acquire(self._clock.now()):
                continue  # open, or its probe is out: the next provider
            try:
                result = await provider.channel.send(payload)
            except ProviderThrottled as error:
                breaker.throttled(self._clock.now(), error.retry_after, error.reason)
                raise self._throttled(provider, error) from error
            except TransientDeliveryError as error:
                # Down, or a doubt about the link: count it, and let the next one try.
                opened = breaker.state is not BreakerState.OPEN
                breaker.failed(self._clock.now(), error.reason)
                if opened and breaker.state is BreakerState.OPEN:
                    await provider.channel.discard_connections()
                    log.warning(
                        "%s provider %s: circuit open after %s",
                        self.name,
                        provider.name,
                        error.reason,
                        extra={"action": "breaker_open", "provider": provider.name},
                    )
                tried.append(f"{provider.name}: {error.reason}")
                last = error
                continue
            except DeliveryError:
                # The provider answered, about this message (a bad address, an opt-out):
                # it is up, and another provider would say the same.
                breaker.succeeded(self._clock.now())
                raise
            except BaseException:
                breaker.failed(self._clock.now(), "channel error")
                raise
            breaker.succeeded(self._clock.now())
            self.sent_by[provider.name] += 1
            if index > 0:
                self.failed_over += 1
            self._all_down = False
            return dataclasses.replace(result, provider=provider.name)
        raise self._unavailable(tried, last)

    def _throttled(self, provider: Provider, error: ProviderThrottled | None) -> ProviderThrottled:
        """Wait for a throttling provider: its own words, and its pause as Retry-After."""
        now = self._clock.now()
        wait = max(0.1, (provider.breaker.available_at(now) - now).total_seconds())
        if error is not None:
            return ProviderThrottled(error.reason, code=error.code, retry_after=wait)
        reason = f"{provider.name} is throttled ({provider.breaker.last_error})"
        return ProviderThrottled(reason, code="throttled", retry_after=wait)

    def _unavailable(self, tried: list[str], last: DeliveryError | None) -> DeliveryError:
        now = self._clock.now()
        wait_until = min(p.breaker.available_at(now) for p in self.providers)
        wait = max(1.0, (wait_until - now).total_seconds())
        states = "; ".join(f"{p.name}: {p.breaker.describe(now)}" for p in self.providers)
        if not self._all_down and self._every_provider_down(now):
            self._all_down = True
            log.error(
                "every %s provider is unavailable: %s",
                self.name,
                states,
                extra={"action": "providers_down", "channel": str(self.name)},
            )
            if self._on_all_down is not None:
                self._on_all_down(self.name, states)
        if len(tried) == 1 and last is not None and len(self.providers) == 1:
            # One provider, one answer: keep its own kind and words (454 stays "throttled").
            return type(last)(last.reason, code=last.code, retry_after=max(wait, _ra(last)))
        reason = f"no {self.name} provider can take it now ({states})"
        code = last.code if last is not None else "providers_unavailable"
        return ProvidersUnavailable(reason, code=code, retry_after=wait)

    def _every_provider_down(self, now: datetime) -> bool:
        return all(p.breaker.state is not BreakerState.CLOSED for p in self.providers)

    def classify_error(self, exc: Exception) -> DeliveryError | None:
        return None

    def parse_result(self, payload: Any, response: DeliveryResult) -> DeliveryResult:
        return response


def _ra(error: DeliveryError) -> float:
    return error.retry_after or 0.0
