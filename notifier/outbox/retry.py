"""When to try a failed message again, as a pure function of the message and the error."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.errors import (
    DeliveryError,
    PermanentDeliveryError,
    ProviderThrottled,
    ProviderUnavailable,
)


def is_provider_wide(error: DeliveryError) -> bool:
    """The provider throttles or is down: nothing is wrong with this message, so the try
    is not counted as one of its attempts."""
    return isinstance(error, ProviderThrottled | ProviderUnavailable)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter for what is wrong with one message; patience in
    time for what is wrong with the provider.

    A message-level transient error (450 mailbox busy, a dropped link mid-send):

        delay(n) = min(max_delay, base * 2 ** (n - 1)) * uniform(1 - jitter, 1 + jitter)

    where n is the number of attempts made so far; after `max_attempts`, give up.

    A provider-wide one (throttled, down, every provider unavailable): attempts are not
    spent. The message waits what the provider (or its breaker) asked, as Retry-After, or
    else a quarter of the time it has waited so far (between `base` and `max_delay`), and
    gives up only once it has waited `max_patience` since it was planned.

    A provider's Retry-After, when longer, wins, up to `max_delay` (a provider asking for a
    day would otherwise hold the message past any use). A permanent error: give up.
    """

    max_attempts: int = 6
    base: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.1
    max_patience: timedelta = timedelta(hours=2)

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        raw: float = min(self.max_delay, self.base * 2.0 ** max(0, attempts - 1))
        return self._spread(raw, rng)

    def _spread(self, raw: float, rng: random.Random | None) -> float:
        if not self.jitter:
            return raw
        spread: float = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return raw * spread

    def decide(
        self,
        attempts: int,
        error: DeliveryError,
        now: datetime,
        rng: random.Random | None = None,
        *,
        since: datetime | None = None,
    ) -> datetime | None:
        """The time of the next attempt, or None to give up. `since`: when the message was
        planned (provider-wide errors are judged by how long it has waited)."""
        if isinstance(error, PermanentDeliveryError):
            return None
        if is_provider_wide(error):
            waited = (now - since).total_seconds() if since is not None else 0.0
            if waited >= self.max_patience.total_seconds():
                return None
            if error.retry_after is not None:
                # The provider said when it may take messages again: not before (the jitter
                # only lengthens the wait, so that waiters do not all come back at once).
                asked = min(error.retry_after, self.max_delay)
                return now + timedelta(seconds=asked + abs(self._spread(asked, rng) - asked))
            wait = self._spread(min(self.max_delay, max(self.base, waited / 4)), rng)
        else:
            if attempts >= self.max_attempts:
                return None
            wait = self.delay(attempts, rng)
        if error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_delay))
        return now + timedelta(seconds=wait)
