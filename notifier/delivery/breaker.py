"""A circuit breaker per provider, as a transition table.

    closed ──(N failures in a row)──► open ──(cool-down over)──► half_open
      ▲                                 ▲                            │
      │                                 └──────(probe fails)─────────┤
      └───────────────────────(probe goes through)───────────────────┘

Closed: every message may go. Open: none goes; the next provider carries them. Half-open:
exactly one message, the probe, goes; the others still take the next provider until the
probe says whether the provider is back.

A throttled provider ("slow down": SMTP 454, Twilio 429) is not broken: it is paused for
what it asked (Retry-After) or a growing pause, without counting toward opening.

Time is given by the caller (`now`), so the clock stays injectable and the table can be
unit-tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Signal(StrEnum):
    SUCCESS = "success"  # the provider accepted a message (or refused it for its own sake)
    FAILURE = "failure"  # refused connection, 5xx, timeout: counted
    TRIP = "trip"  # the failures in a row reached the threshold
    COOLED = "cooled"  # the cool-down is over: let one probe through


# (state, signal) -> next state. A pair not listed is a bug in the caller: it raises.
TRANSITIONS: dict[tuple[BreakerState, Signal], BreakerState] = {
    (BreakerState.CLOSED, Signal.SUCCESS): BreakerState.CLOSED,  # resets the count
    (BreakerState.CLOSED, Signal.FAILURE): BreakerState.CLOSED,  # counted, under threshold
    (BreakerState.CLOSED, Signal.TRIP): BreakerState.OPEN,
    # Answers of sends that started before it opened change nothing: only the probe decides.
    (BreakerState.OPEN, Signal.SUCCESS): BreakerState.OPEN,
    (BreakerState.OPEN, Signal.FAILURE): BreakerState.OPEN,
    (BreakerState.OPEN, Signal.COOLED): BreakerState.HALF_OPEN,
    (BreakerState.HALF_OPEN, Signal.SUCCESS): BreakerState.CLOSED,  # the probe went through
    (BreakerState.HALF_OPEN, Signal.FAILURE): BreakerState.OPEN,  # the probe failed
}


class IllegalBreakerMove(RuntimeError):
    pass


def transition(state: BreakerState, signal: Signal) -> BreakerState:
    try:
        return TRANSITIONS[(state, signal)]
    except KeyError:
        raise IllegalBreakerMove(f"circuit breaker: no move from {state} on {signal}") from None


@dataclass
class Breaker:
    """One provider's breaker and throttle pause."""

    failures_to_open: int = 5
    cooldown: timedelta = timedelta(seconds=30)
    max_pause: timedelta = timedelta(minutes=1)
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  # in a row, while closed
    opened_at: datetime | None = None
    probing: bool = False  # half-open, and the probe is out
    paused_until: datetime | None = None  # throttled: nothing goes before this
    pauses: int = 0  # throttle answers in a row: the pause doubles with each
    last_error: str | None = None

    def _move(self, signal: Signal, now: datetime) -> None:
        before = self.state
        self.state = transition(before, signal)
        if self.state is BreakerState.OPEN and before is not BreakerState.OPEN:
            self.opened_at = now
        if self.state is not BreakerState.HALF_OPEN:
            self.probing = False
        if signal is Signal.SUCCESS or self.state is not BreakerState.CLOSED:
            self.failures = 0  # the count is of failures in a row, while closed

    def paused(self, now: datetime) -> bool:
        """Throttled: the provider asked to slow down and the pause is not over."""
        return self.paused_until is not None and now < self.paused_until

    def acquire(self, now: datetime) -> bool:
        """May one message go through this provider now? In half-open, the first caller
        gets the probe and the others are told no until it comes back."""
        if self.paused(now):
            return False
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now < self.opened_at + self.cooldown:
                return False
            self._move(Signal.COOLED, now)
        if self.state is BreakerState.HALF_OPEN:
            if self.probing:
                return False
            self.probing = True
        return True

    def succeeded(self, now: datetime) -> None:
        self.pauses = 0
        self.paused_until = None
        self._move(Signal.SUCCESS, now)

    def failed(self, now: datetime, error: str) -> None:
        self.last_error = error
        if self.state is BreakerState.CLOSED:
            self.failures += 1
            if self.failures >= self.failures_to_open:
                self._move(Signal.TRIP, now)
                return
        self._move(Signal.FAILURE, now)

    def throttled(self, now: datetime, retry_after: float | None, error: str) -> None:
        """The provider asked to slow down: pause it for what it asked, or for a pause that
        doubles with each answer in a row (1 s, 2 s, 4 s, ... up to `max_pause`)."""
        self.last_error = error
        already = self.paused_until is not None and now < self.paused_until
        if not already:
            # Answers to sends that were in flight when the pause began are the same "slow
            # down": they must not double it again, or a burst of N concurrent sends would
            # pause the provider for 2**N seconds.
            self.pauses += 1
        if self.state is BreakerState.HALF_OPEN:
            # A throttled probe still proves the provider is up: close, then pause.
            self._move(Signal.SUCCESS, now)
        seconds = min(self.max_pause.total_seconds(), 2.0 ** (self.pauses - 1))
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, self.max_pause.total_seconds()))
        until = now + timedelta(seconds=seconds)
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until

    def available_at(self, now: datetime) -> datetime:
        """When this provider may take a message again (now, if it may already)."""
        candidates = [now]
        if self.paused_until is not None:
            candidates.append(self.paused_until)
        if self.state is BreakerState.OPEN and self.opened_at is not None:
            candidates.append(self.opened_at + self.cooldown)
        return max(candidates)

    def describe(self, now: datetime) -> str:
        if self.state is BreakerState.OPEN:
            return f"circuit open ({self.last_error})"
        if self.paused_until is not None and now < self.paused_until:
            return f"throttled ({self.last_error})"
        if self.state is BreakerState.HALF_OPEN:
            return "probing"
        return "available"
