"""The circuit breaker's transition table and its timing rules, without a network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.delivery.breaker import (
    TRANSITIONS,
    Breaker,
    BreakerState,
    IllegalBreakerMove,
    Signal,
    transition,
)

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
COOL = timedelta(seconds=30)


def _open(breaker: Breaker, now: datetime = NOW) -> None:
    for _ in range(breaker.failures_to_open):
        breaker.failed(now, "connection refused")


def test_every_pair_not_in_the_table_is_refused() -> None:
    for state in BreakerState:
        for signal in Signal:
            if (state, signal) in TRANSITIONS:
                assert transition(state, signal) is TRANSITIONS[(state, signal)]
            else:
                with pytest.raises(IllegalBreakerMove, match=f"from {state} on {signal}"):
                    transition(state, signal)


def test_closed_opens_after_n_failures_in_a_row_only() -> None:
    breaker = Breaker(failures_to_open=3, cooldown=COOL)
    breaker.failed(NOW, "refused")
    breaker.failed(NOW, "refused")
    breaker.succeeded(NOW)  # a success in between starts the count again
    breaker.failed(NOW, "refused")
    breaker.failed(NOW, "refused")
    assert breaker.state is BreakerState.CLOSED and breaker.acquire(NOW)
    breaker.failed(NOW, "refused")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.acquire(NOW)


def test_open_lets_one_probe_through_after_the_cooldown_and_closes_when_it_succeeds() -> None:
    breaker = Breaker(failures_to_open=2, cooldown=COOL)
    _open(breaker)
    assert not breaker.acquire(NOW + COOL - timedelta(seconds=1))
    assert breaker.available_at(NOW) == NOW + COOL
    later = NOW + COOL
    assert breaker.acquire(later)  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.acquire(later)  # only one probe at a time
    breaker.succeeded(later)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.acquire(later) and breaker.acquire(later)


def test_a_failed_probe_opens_again_for_another_cooldown() -> None:
    breaker = Breaker(failures_to_open=2, cooldown=COOL)
    _open(breaker)
    probe_at = NOW + COOL
    assert breaker.acquire(probe_at)
    breaker.failed(probe_at, "still refused")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.acquire(probe_at + COOL - timedelta(seconds=1))
    assert breaker.acquire(probe_at + COOL)


def test_late_answers_while_open_change_nothing() -> None:
    breaker = Breaker(failures_to_open=1, cooldown=COOL)
    _open(breaker)
    breaker.succeeded(NOW)  # a send that started before it opened
    assert breaker.state is BreakerState.OPEN


def test_throttling_pauses_without_opening_and_the_pause_grows() -> None:
    breaker = Breaker(failures_to_open=1, cooldown=COOL, max_pause=timedelta(seconds=5))
    breaker.throttled(NOW, None, "454 throttled")
    assert breaker.state is BreakerState.CLOSED
    assert not breaker.acquire(NOW)
    assert breaker.acquire(NOW + timedelta(seconds=1))
    # Answers of sends already in flight when the pause began do not lengthen it.
    for _ in range(10):
        breaker.throttled(NOW, None, "454 throttled")
    assert breaker.paused_until == NOW + timedelta(seconds=1)
    # Throttled again after the pause: twice as long, then longer, up to the cap.
    later = NOW + timedelta(seconds=1)
    breaker.throttled(later, None, "454 throttled")
    assert breaker.paused_until == later + timedelta(seconds=2)
    for step in range(2, 10):
        at = later + timedelta(seconds=10 * step)
        breaker.throttled(at, None, "454 throttled")
    assert breaker.paused_until == at + timedelta(seconds=5)  # capped
    breaker.throttled(at, 3.0, "429")  # a shorter Retry-After does not shorten the pause
    assert breaker.paused_until == at + timedelta(seconds=5)
    breaker.succeeded(at + timedelta(seconds=5))
    assert breaker.pauses == 0 and breaker.paused_until is None


def test_retry_after_longer_than_the_pause_wins() -> None:
    breaker = Breaker(max_pause=timedelta(minutes=1))
    breaker.throttled(NOW, 20.0, "429 Too Many Requests")
    assert breaker.paused_until == NOW + timedelta(seconds=20)
    assert "throttled" in breaker.describe(NOW)
