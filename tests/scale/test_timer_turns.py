"""The running worker looks at its timers when something fell due, while a backlog
lasts, and at least every poll interval; not on every wake-up for new events."""

from __future__ import annotations

from notifier.runtime.worker import _TimerTurns
from tests.waiting import wait_until


def test_looks_at_start_then_only_when_due_busy_or_stale() -> None:
    turns = _TimerTurns(every=60.0)
    assert turns.take()  # the first pass looks
    assert not turns.take()  # woken for new events: no look
    turns.due = True  # the wake-up job fired
    assert turns.take()
    assert not turns.take()
    turns.busy = True  # the last look fired something: a backlog may remain
    assert turns.take()
    turns.busy = False
    assert not turns.take()


def test_looks_again_after_the_interval() -> None:
    turns = _TimerTurns(every=0.05)
    assert turns.take()
    assert not turns.take()
    wait_until(turns.stale, what="the interval to pass")
    assert turns.take()


def test_planning_asks_for_the_next_due_time_once() -> None:
    turns = _TimerTurns(every=60.0)
    turns.take()
    turns.moved = True  # something was planned
    assert turns.moved and not turns.stale()
    turns.looked()  # the next due time was read and the wake-up job set
    assert not turns.moved
