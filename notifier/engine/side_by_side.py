"""Run independent jobs side by side, a few at a time, and fail only once all have ended.

Planning an event and firing a schedule mostly wait for the database (a round trip per
statement on PostgreSQL, the write lock on SQLite). One after the other, a busy minute falls
behind while the CPU idles; side by side, the waits overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable


async def side_by_side(jobs: Iterable[Callable[[], Awaitable[object]]], *, at_once: int) -> None:
    """Run every job, at most `at_once` at a time. If any failed, raise the first failure
    after the others have finished: their work is done and committed, and the failed
    job's claims come back after their lease."""
    room = asyncio.Semaphore(at_once)

    async def run(job: Callable[[], Awaitable[object]]) -> None:
        async with room:
            await job()

    outcomes = await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
