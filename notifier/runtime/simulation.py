"""Driving the real worker on a virtual clock: jump to the next due time, work, repeat.

Used by `notifier rules simulate` and by tests that run days of follow-ups in seconds.
"""

from __future__ import annotations

from datetime import datetime

from notifier.clock import VirtualClock
from notifier.runtime.worker import Worker

# A runaway rule set (a follow-up every minute for a year) must not hang a simulation.
MAX_STEPS = 100_000


async def settle(worker: Worker) -> None:
    """Work until nothing more is due at the current virtual time."""
    for _ in range(MAX_STEPS):
        if not await worker.step():
            return
    raise RuntimeError(f"still busy after {MAX_STEPS} steps at {worker.app.clock.now()}")


async def advance_to(
    worker: Worker, clock: VirtualClock, until: datetime, *, work_at_until: bool = True
) -> None:
    """Move the clock to `until`, stopping at every due time on the way to do its work.

    `work_at_until=False` stops with the clock at `until` but what falls due at that very
    instant not yet done: a change of state made then (an operator resolving an incident)
    comes first, and what was due at the same instant is judged against it; so do several
    changes at one instant, none of them acted on until the last is made.
    """
    if not work_at_until and clock.now() >= until:
        return
    await settle(worker)
    for _ in range(MAX_STEPS):
        due = await worker.next_due()
        if due is None or due > until or (due == until and not work_at_until):
            break
        if due > clock.now():
            clock.set(due)
        await settle(worker)
    else:
        raise RuntimeError(f"more than {MAX_STEPS} due times before {until}")
    if until > clock.now():
        clock.set(until)
    if work_at_until:
        await settle(worker)
