"""The worker: plans new events, fires due schedules, sends what is due.

`run` sleeps until the next known due time (APScheduler wakes it with a DateTrigger at the
earliest `due_at` of the outbox and the schedules), and looks for work other processes
added every `scheduler.poll_interval` seconds. `run_until_idle` drains and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from notifier.app import App
from notifier.channels.base import Channel
from notifier.clock import utc
from notifier.domain.messages import ChannelName
from notifier.engine.fanout import FanOut, PlanStats
from notifier.engine.followups import Followups
from notifier.engine.planner import Planner
from notifier.engine.timers import Timers
from notifier.outbox.dispatcher import Dispatcher
from notifier.outbox.retry import RetryPolicy
from notifier.store import events as event_store
from notifier.store import outbox as outbox_store
from notifier.store import schedules as schedule_store

log = logging.getLogger(__name__)

_WAKE_JOB = "notifier-wake"


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        app: App,
        channels: Mapping[ChannelName, Channel] | None = None,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.app = app
        self.id = worker_id or new_worker_id()
        self._own_channels = channels is None
        self.channels = dict(channels) if channels is not None else app.make_channels()
        settings = app.settings
        fanout = FanOut(app.engine, templates=app.templates, settings=settings, clock=app.clock)
        followups = Followups(
            app.engine, rules=app.rules, fanout=fanout, settings=settings, clock=app.clock
        )
        self.planner = Planner(
            app.engine,
            rules=app.rules,
            fanout=fanout,
            followups=followups,
            settings=settings,
            clock=app.clock,
            worker_id=self.id,
        )
        self.timers = Timers(
            app.engine, followups=followups, settings=settings, clock=app.clock, worker_id=self.id
        )
        delivery = settings.delivery
        self.dispatcher = Dispatcher(
            app.engine,
            self.channels,
            clock=app.clock,
            worker_id=self.id,
            retry=RetryPolicy(
                max_attempts=delivery.max_attempts,
                base=delivery.backoff_base,
                max_delay=delivery.backoff_max,
            ),
            lease=timedelta(seconds=delivery.lease_seconds),
            batch_size=delivery.batch_size,
            headers=app.message_headers,
        )
        self._poll = settings.scheduler.poll_interval
        self.stats = PlanStats()
        self.sent = 0

    async def step(self) -> bool:
        """Plan what is new, fire what is due, send one batch. True if anything happened."""
        planned = await self.planner.plan_pending()
        fired = await self.timers.fire_due()
        sent = await self.dispatcher.run_once()
        self.stats.add(planned)
        self.stats.add(fired)
        self.sent += sent
        return bool(planned.events or fired.events or sent)

    async def run_until_idle(self, max_wait: float = 600.0) -> None:
        """Work until nothing is due; wait for retries that fall due within `max_wait` s.

        Scheduled follow-ups, deadlines and quiet-hours deferrals are not waited for: they
        belong to a running worker.
        """
        try:
            while True:
                if await self.step():
                    continue
                async with self.app.engine.connect() as conn:
                    if await event_store.count_unplanned(conn):
                        wait: float | None = self._poll  # another worker holds them
                    else:
                        due = await outbox_store.next_due_at(conn, include_deferred=False)
                        wait = self._seconds_until(due)
                if wait is None or wait > max_wait:
                    return
                await self.app.clock.sleep(wait)
        finally:
            await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set."""
        wake = asyncio.Event()
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.start()
        try:
            while not stop.is_set():
                if await self.step():
                    continue
                wake.clear()
                due = await self.next_due()
                if due is not None:
                    # misfire_grace_time=None: a wake-up that comes late still runs; the
                    # rows are the truth, this job only ends the sleep.
                    scheduler.add_job(
                        wake.set,
                        DateTrigger(run_date=due),
                        id=_WAKE_JOB,
                        replace_existing=True,
                        misfire_grace_time=None,
                    )
                waiters = [asyncio.ensure_future(e.wait()) for e in (stop, wake)]
                try:
                    await asyncio.wait(waiters, timeout=self._poll, return_when="FIRST_COMPLETED")
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            scheduler.shutdown(wait=False)
            await self.close()

    async def next_due(self) -> datetime | None:
        """The earliest due time among waiting messages and pending schedules."""
        async with self.app.engine.connect() as conn:
            times = [
                await outbox_store.next_due_at(conn),
                await schedule_store.next_due_at(conn),
            ]
        known = [utc(t) for t in times if t is not None]
        return min(known) if known else None

    def _seconds_until(self, due: datetime | None) -> float | None:
        if due is None:
            return None
        return max(0.0, (utc(due) - self.app.clock.now()).total_seconds())

    async def close(self) -> None:
        if self._own_channels:
            for channel in self.channels.values():
                with contextlib.suppress(Exception):
                    await channel.close()
