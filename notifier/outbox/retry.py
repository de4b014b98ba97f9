"""When to try a failed message again, as a pure function of attempts and the error."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.errors import DeliveryError, PermanentDeliveryError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter.

    delay(n) = min(max_delay, base * 2 ** (n - 1)) * uniform(1 - jitter, 1 + jitter)

    where n is the number of attempts made so far. A provider's Retry-After, when longer,
    wins, up to `max_delay` (a provider asking for a day would otherwise hold the message
    past any use). After `max_attempts` attempts, or on a permanent error, give up.
    """

    max_attempts: int = 6
    base: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.1

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        raw: float = min(self.max_delay, self.base * 2.0 ** max(0, attempts - 1))
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
    ) -> datetime | None:
        """The time of the next attempt, or None to give up."""
        if isinstance(error, PermanentDeliveryError) or attempts >= self.max_attempts:
            return None
        wait = self.delay(attempts, rng)
        if error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_delay))
        return now + timedelta(seconds=wait)
