"""Waiting for a condition, never for a duration.

A test that sleeps "long enough" passes on a fast machine and fails on a busy one. These
helpers poll the condition itself until it holds, with a deadline generous enough for a
machine whose cores are all taken by something else; when it runs out, the failure says
what was awaited (and, if given, what was seen), not merely that time passed.

    await wait_for(lambda: len(sink.messages) == 3, what="3 emails at the sink")
    rows = await wait_for(fetch_sent, what="every row sent", within=120)
    wait_until(lambda: process.ready(), what="the server's health check")  # blocking code
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Seconds. Far beyond what any condition here takes even on a saturated 2-core machine:
# the deadline only turns a hang into a clear failure; it never decides a verdict on speed.
GENEROUS = 60.0
POLL = 0.02  # seconds between looks: often enough to add little wall-clock, cheap to repeat

Described = str | Callable[[], str]


def _message(what: Described, within: float, last: object) -> str:
    text = what() if callable(what) else what
    return f"timed out after {within:g} s waiting for {text} (last seen: {last!r})"


async def wait_for(
    condition: Callable[[], T | Awaitable[T]],
    *,
    what: Described,
    within: float = GENEROUS,
    interval: float = POLL,
) -> T:
    """Poll `condition` (plain or async) until it returns something truthy; return that.

    `what` names the awaited condition for the failure message; a callable is evaluated
    only on failure (a worker's log, the rows seen)."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(_message(what, within, result))
        await asyncio.sleep(interval)


def wait_until(
    condition: Callable[[], T],
    *,
    what: Described,
    within: float = GENEROUS,
    interval: float = POLL,
) -> T:
    """The blocking twin of `wait_for`, for code outside an event loop (threads, fixtures
    that start processes)."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(_message(what, within, result))
        time.sleep(interval)
