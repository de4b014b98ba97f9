"""FailoverChannel over two real SMTP sinks: down means the next relay, throttled means wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from notifier.channels.email import EmailChannel
from notifier.clock import VirtualClock
from notifier.config import EmailSettings
from notifier.delivery.breaker import Breaker, BreakerState
from notifier.delivery.failover import FailoverChannel, Provider, ProvidersUnavailable
from notifier.errors import ProviderThrottled
from notifier.sinks import SmtpSink
from tests.peers import email_message

COOL = timedelta(seconds=30)


@pytest.fixture
def sinks() -> Iterator[tuple[SmtpSink, SmtpSink]]:
    with SmtpSink() as first, SmtpSink() as second:
        yield first, second


def _failover(
    sinks: tuple[SmtpSink, SmtpSink], clock: VirtualClock, alerts: list[str]
) -> FailoverChannel:
    providers = [
        Provider(
            f"relay-{i}",
            EmailChannel(EmailSettings(host=sink.host, port=sink.port, pool_size=1, timeout=5.0)),
            Breaker(failures_to_open=2, cooldown=COOL),
        )
        for i, sink in enumerate(sinks, start=1)
    ]
    return FailoverChannel(
        providers, clock=clock, on_all_down=lambda channel, why: alerts.append(why)
    )


async def test_down_goes_to_the_next_throttled_waits_and_the_primary_comes_back(
    sinks: tuple[SmtpSink, SmtpSink],
) -> None:
    primary, secondary = sinks
    clock = VirtualClock(datetime(2026, 12, 6, 22, 0, tzinfo=UTC))
    alerts: list[str] = []
    async with _failover(sinks, clock, alerts) as channel:
        assert (await channel.send(email_message("m-1"))).provider == "relay-1"

        # Throttled: the message waits for the primary, it does not spill over.
        primary.limit(0.001, burst=1)
        await channel.send(email_message("m-2"))
        with pytest.raises(ProviderThrottled) as caught:
            await channel.send(email_message("m-3"))
        assert caught.value.retry_after is not None and caught.value.retry_after > 0
        assert "Throttling failure" in caught.value.reason
        with pytest.raises(ProviderThrottled):  # still paused: not even tried
            await channel.send(email_message("m-3"))
        assert secondary.received == 0
        primary.limit(None)
        clock.advance(timedelta(minutes=1))

        # Down: each message goes through the secondary at once; the breaker opens.
        primary.switch_off()
        for i in range(4):
            result = await channel.send(email_message(f"d-{i}"))
            assert result.provider == "relay-2"
        assert channel.providers[0].breaker.state is BreakerState.OPEN
        assert secondary.received == 4 and alerts == []

        # Both down: the message waits, and operations hear once.
        secondary.switch_off()
        for i in range(3):
            with pytest.raises(ProvidersUnavailable):
                await channel.send(email_message(f"w-{i}"))
        assert len(alerts) == 1 and "relay-1: circuit open" in alerts[0]

        # Both back: after the cool-down the probe finds the primary; traffic returns.
        primary.switch_on()
        secondary.switch_on()
        clock.advance(COOL)
        results = [await channel.send(email_message(f"b-{i}")) for i in range(3)]
    assert [r.provider for r in results] == ["relay-1"] * 3
    assert channel.sent_by == {"relay-1": 5, "relay-2": 4}
    assert channel.failed_over == 4
