"""What makes a stand-in behave like a provider with limits: a sending rate and a queue.

Both are thread-safe (the SMTP sink answers from aiosmtpd's thread while a test sets limits
from its own) and read a monotonic clock, so a test can change them at any moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Seconds = Callable[[], float]  # a clock in seconds; the tests pass their virtual clock's


class RateGate:
    """A token bucket: `rate` requests a second, `burst` at once.

    `take()` says whether one more request fits now; when it does not, `wait()` is the time
    until it would (what a provider puts in Retry-After).
    """

    def __init__(self, rate: float, burst: int = 1, *, clock: Seconds = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def wait(self) -> float:
        """Seconds until one request fits."""
        with self._lock:
            self._refill()
            return max(0.0, (1.0 - self._tokens) / self.rate)


class SenderQueue:
    """A provider's queue behind the API: accepted messages leave it at `drain_rate` a
    second; when `depth` are waiting, new ones are refused (Twilio's 21611)."""

    def __init__(self, drain_rate: float, depth: int, *, clock: Seconds = time.monotonic) -> None:
        if drain_rate <= 0 or depth < 1:
            raise ValueError("drain_rate must be positive and depth at least 1")
        self.drain_rate = drain_rate
        self.depth = depth
        self._clock = clock
        self._level = 0.0
        self._at = clock()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """Queue one more message, or say the queue is full."""
        with self._lock:
            now = self._clock()
            self._level = max(0.0, self._level - (now - self._at) * self.drain_rate)
            self._at = now
            if self._level + 1.0 > self.depth:
                return False
            self._level += 1.0
            return True
