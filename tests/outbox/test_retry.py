"""The retry policy, without a database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from notifier.errors import PermanentDeliveryError, TransientDeliveryError
from notifier.outbox.retry import RetryPolicy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base=2.0, max_delay=60.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(base=10.0, jitter=0.1)
    rng = random.Random(7)
    delays = [policy.delay(1, rng) for _ in range(200)]
    assert min(delays) >= 9.0 and max(delays) <= 11.0
    assert len(set(delays)) > 100  # workers retrying together spread out


def test_permanent_errors_are_never_retried() -> None:
    policy = RetryPolicy()
    assert policy.decide(1, PermanentDeliveryError("550 no such user", "550"), NOW) is None


def test_transient_errors_retry_until_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=3, base=1.0, jitter=0.0)
    error = TransientDeliveryError("451 try later", "451")
    assert policy.decide(1, error, NOW) == NOW + timedelta(seconds=1)
    assert policy.decide(2, error, NOW) == NOW + timedelta(seconds=2)
    assert policy.decide(3, error, NOW) is None


def test_a_longer_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(base=1.0, max_delay=30.0, jitter=0.0)
    assert policy.decide(1, TransientDeliveryError("429", retry_after=12), NOW) == NOW + timedelta(
        seconds=12
    )
    assert policy.decide(1, TransientDeliveryError("429", retry_after=9999), NOW) == NOW + (
        timedelta(seconds=30)
    )


def test_provider_wide_errors_wait_in_time_not_attempts() -> None:
    from notifier.errors import ProviderThrottled, ProviderUnavailable

    policy = RetryPolicy(max_attempts=2, base=1.0, jitter=0.0, max_patience=timedelta(hours=1))
    planned = NOW - timedelta(minutes=20)
    for error in (ProviderThrottled("454 throttled", "454"), ProviderUnavailable("down")):
        # Far beyond max_attempts, still waiting: a quarter of the time waited so far.
        assert policy.decide(50, error, NOW, since=planned) == NOW + timedelta(minutes=5)
        assert policy.decide(50, error, NOW, since=NOW) == NOW + timedelta(seconds=1)
        # After max_patience, it gives up.
        assert policy.decide(1, error, NOW, since=NOW - timedelta(hours=1)) is None


def test_provider_wide_retry_after_wins() -> None:
    from notifier.errors import ProviderThrottled

    policy = RetryPolicy(base=1.0, jitter=0.0)
    error = ProviderThrottled("429", "20429", retry_after=7)
    assert policy.decide(1, error, NOW, since=NOW) == NOW + timedelta(seconds=7)


def test_no_retry_sooner_than_retry_after_whatever_the_jitter() -> None:
    """Every kind of error that carries a Retry-After: the next try is never before it
    (the jitter only lengthens the wait), and the waits still spread out."""
    from notifier.errors import ProviderThrottled, ProviderUnavailable

    policy = RetryPolicy(base=1.0, jitter=0.25, max_delay=60.0)
    rng = random.Random(3)
    for error in (
        ProviderThrottled("429", "20429", retry_after=2),
        ProviderUnavailable("503", "20503", retry_after=2),
        TransientDeliveryError("429", retry_after=2),
    ):
        waits = []
        for attempts in (1, 2, 5):
            for _ in range(200):
                when = policy.decide(attempts, error, NOW, rng, since=NOW)
                assert when is not None
                waits.append((when - NOW).total_seconds())
        assert min(waits) >= 2.0, (error, min(waits))
        assert len(set(waits)) > 100, error
