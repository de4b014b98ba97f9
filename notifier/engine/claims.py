"""Short claims on planning work, renewed while the work goes on.

Planning an event's audience, or firing a follow-up, can take many seconds. A claim as long
as the longest of them would hold the work back that long after its worker died; a short
one would expire under a live worker. So the claim is short (`scheduler.planning_lease`) and
a heartbeat renews it every quarter of that while the work goes on: a dead worker's work
comes back within one short lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.store.db import brief

log = logging.getLogger(__name__)

# Extends this worker's claims on `ids` to `until`; returns the ids it still held.
Renew = Callable[[AsyncConnection, list[int], datetime], Awaitable[set[int]]]


@contextlib.asynccontextmanager
async def renewing(
    engine: AsyncEngine,
    held: set[int],
    renew: Renew,
    *,
    every: float,
    until: Callable[[], datetime],
    what: str,
) -> AsyncIterator[None]:
    """Renew the claims on the ids in `held` (the caller removes each when its work is done)
    every `every` seconds, up to `until()`, while the block runs."""
    heartbeat = asyncio.create_task(_beat(engine, held, renew, every, until, what), name=what)
    try:
        yield
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _beat(
    engine: AsyncEngine,
    held: set[int],
    renew: Renew,
    every: float,
    until: Callable[[], datetime],
    what: str,
) -> None:
    while True:
        await asyncio.sleep(every)
        ids = sorted(held)
        if not ids:
            continue
        try:
            async with engine.begin() as conn:
                still = await renew(conn, ids, until())
        except (SQLAlchemyError, OSError) as exc:
            # The work meets the same outage, and the worker gives its claims back then.
            log.warning(
                "cannot renew the claims on %s: %s",
                what,
                brief(exc),
                extra={"action": "claim_renew_failed"},
            )
            continue
        lost = [i for i in ids if i not in still and i in held]
        if lost:
            # The work is idempotent by key: another worker doing it too sends nothing
            # twice. Said, because it means the renewals came too late.
            log.warning(
                "claims on %s %s lost to another worker",
                what,
                lost,
                extra={"action": "claim_lost"},
            )


async def hold_failed(engine: AsyncEngine, renew: Renew, id_: int, until: datetime) -> None:
    """Work that failed for a reason other than an outage would fail again at once: its
    claim is kept until `until` (the longer delivery lease), as before claims were short.
    Best effort: in an outage the worker gives its claims back when the database returns."""
    with contextlib.suppress(SQLAlchemyError, OSError):
        async with engine.begin() as conn:
            await renew(conn, [id_], until)
