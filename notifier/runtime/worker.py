"""The worker: plans new events, fires due schedules, sends what is due.

`step()` and `run_until_idle()` do one thing after the other (plan, fire, send one batch):
on a virtual clock, tests and `notifier rules simulate` see every step.

`run()` is the production loop, a pipeline: the planner (events and due schedules) and the
dispatcher's channel lanes run side by side, so the first page of an audience is being
sent while the next pages are still being rendered, and email and SMS go out at once.
It sleeps until there is work:

- another process added some: PostgreSQL LISTEN/NOTIFY (the NOTIFY is sent in the
  transaction that adds the event or the messages), or on SQLite a change of the file's
  `data_version`, seen within 50 ms;
- this process planned some: the fan-out wakes the dispatcher after each page;
- something falls due: APScheduler wakes it with a DateTrigger at the earliest `due_at`
  of the outbox and the schedules;
- and every `scheduler.poll_interval` seconds anyway, as a safety net.

A stop (SIGTERM) interrupts planning: the fan-out under way is cancelled between two
customers, and the events this worker claimed and did not finish are given back at once, so
another worker plans the rest of the audience (planning is idempotent by key). A claim on an
event lasts `scheduler.planning_lease` seconds and is renewed while its fan-out goes on, so
the audience of a worker that dies mid-fan-out waits seconds, not a delivery lease.

When the database goes away (stopped, restarting, connection cut), `run()` does not end:
the planner waits and tries again every second, the dispatcher's lanes keep their
outcomes until they can record them, and the worker logs the outage and its end. An event
whose fan-out the outage interrupted is given back at once when the database answers
again (its fan-out is idempotent), rather than after its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy.exc import SQLAlchemyError

from notifier.channels.base import Channel
from notifier.clock import utc
from notifier.delivery.pacing import pacer_for
from notifier.domain.messages import ChannelName
from notifier.engine.fanout import FanOut, PlanStats
from notifier.engine.followups import Followups
from notifier.engine.planner import Planner
from notifier.engine.timers import Timers
from notifier.outbox import fallback
from notifier.outbox import queries as outbox_queries
from notifier.outbox.dispatcher import Dispatcher
from notifier.outbox.enqueue import enqueue
from notifier.outbox.grouping import Grouper
from notifier.outbox.retry import RetryPolicy
from notifier.runtime.app import App
from notifier.runtime.provider_alerts import ProviderAlerts
from notifier.store import events as event_store
from notifier.store import schedules as schedule_store
from notifier.store.db import RETRY_OUTAGE_AFTER, brief, reads, unavailable
from notifier.store.wakeup import TOPIC_OUTBOX, WorkWatcher

log = logging.getLogger(__name__)

_WAKE_JOB = "notifier-wake"
_T = TypeVar("_T")


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
        # Set while `run` waits with nothing to plan (listening for news): what a caller
        # waits on to know that whatever comes next is news to it, not a leftover.
        self.idle = asyncio.Event()
        self._own_channels = channels is None
        self.alerts = ProviderAlerts(app.settings.operations_email)
        self.channels = (
            dict(channels) if channels is not None else app.make_channels(self.alerts.note)
        )
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
        self.grouper = Grouper(
            app.engine, templates=app.templates, settings=settings, clock=app.clock
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
                max_patience=delivery.max_patience,
            ),
            lease=timedelta(seconds=delivery.lease_seconds),
            batch_size=delivery.batch_size,
            headers=app.message_headers,
            poll=settings.scheduler.poll_interval,
            pace=pacer_for(settings, app.engine, app.clock),
        )
        # Each page the fan-out commits can be sent at once, by this process too.
        fanout.on_commit = self.dispatcher.wake_channels
        self._poll = settings.scheduler.poll_interval
        self.stats = PlanStats()
        self.sent = 0
        self._down_since: float | None = None  # monotonic time the database went away

    async def step(self) -> bool:
        """Plan what is new, fire what is due, send one batch. True if anything happened."""
        planned = await self.planner.plan_pending()
        fired = await self.timers.fire_due()
        tidied = await self._housekeeping()
        sent = await self.dispatcher.run_once()
        self.stats.add(planned)
        self.stats.add(fired)
        self.sent += sent
        return bool(planned.events or fired.events or tidied or sent)

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
                        due = await outbox_queries.next_due_at(conn, include_deferred=False)
                        wait = self._seconds_until(due)
                if wait is None or wait > max_wait:
                    return
                await self.app.clock.sleep(wait)
        finally:
            await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then let messages in flight finish and return."""
        work = asyncio.Event()  # the planner's wake-up

        async def wait_for_news() -> None:
            self.idle.set()
            try:
                await _first(stop, work, seconds=self._poll)
            finally:
                self.idle.clear()

        def on_work(topic: str | None) -> None:
            if topic != TOPIC_OUTBOX:
                work.set()
            if topic in (None, TOPIC_OUTBOX):
                self.dispatcher.wake()

        timers = _TimerTurns(self._poll)

        async def on_due() -> None:  # a coroutine: APScheduler runs it in our loop
            timers.due = True
            work.set()
            self.dispatcher.wake()

        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.start()
        sending = asyncio.create_task(self.dispatcher.run(), name="notifier-dispatch")
        try:
            async with WorkWatcher(self.app.engine, on_work):
                while not stop.is_set() and not sending.done():
                    # Cleared before looking, so work that arrives while we look is not
                    # missed: the wait below then returns at once.
                    work.clear()
                    try:
                        if self._down_since is not None:
                            await self._database_back()
                        with_timers = timers.take()
                        step = await _unless_stopped(self._plan_step(timers=with_timers), stop)
                        if step is None:
                            await self._hand_back()
                            break
                        planned, fired = step
                        timers.busy = fired
                        # What was planned may fall due later (a follow-up, a grouping
                        # window, quiet hours): the wake-up job is set anew below.
                        timers.moved |= planned
                        if planned or fired:
                            continue
                        if not (with_timers or timers.moved or timers.stale()):
                            # Woken for new events that another worker took, or for none:
                            # the wake-up job already set stays right.
                            await wait_for_news()
                            continue
                        due, timers_late = await self._wake_times()
                        timers.looked()
                        if timers_late:
                            # A schedule or a grouping window is due already (another
                            # worker armed it, or it fell due while we looked): look again,
                            # at once if this pass did not look, else after a short pause
                            # (another worker may hold it: no busy loop).
                            timers.due = True
                            if with_timers:
                                await _first(stop, work, seconds=_RELOOK_AFTER)
                            continue
                    except (SQLAlchemyError, OSError, TimeoutError) as exc:
                        if not unavailable(exc):
                            raise  # a bug, not an outage
                        self._database_down(exc)
                        await _first(stop, seconds=RETRY_OUTAGE_AFTER)
                        continue
                    if due is not None and due > self.app.clock.now():
                        # misfire_grace_time=None: a wake-up that comes late still runs; the
                        # rows are the truth, this job only ends the sleep. Work due now
                        # needs no job: the dispatcher is on it.
                        scheduler.add_job(
                            on_due,
                            DateTrigger(run_date=due),
                            id=_WAKE_JOB,
                            replace_existing=True,
                            misfire_grace_time=None,
                        )
                    await wait_for_news()
        finally:
            self.dispatcher.stop()
            try:
                await sending  # a crashed dispatcher raises here
            finally:
                self.sent += self.dispatcher.handled
                scheduler.shutdown(wait=False)
                await self.close()

    def _database_down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "database unavailable, waiting for it: %s",
                brief(exc),
                extra={"action": "database_unavailable"},
            )

    async def _database_back(self) -> None:
        """Give back the events this worker claimed and did not finish planning (the
        outage interrupted them), so that they are planned again now, not after the lease."""
        async with self.app.engine.begin() as conn:
            released = await event_store.release_unplanned(conn, self.id)
        assert self._down_since is not None
        log.warning(
            "database back after %.1f s; planning resumes (%d interrupted event(s) given back)",
            time.monotonic() - self._down_since,
            released,
            extra={"action": "database_back"},
        )
        self._down_since = None

    async def _hand_back(self) -> None:
        """Stopped mid-planning: give back the events and schedules this worker claimed and
        did not finish, so another worker takes them now (both are idempotent by key)."""
        try:
            async with self.app.engine.begin() as conn:
                released = await event_store.release_unplanned(conn, self.id)
                released += await schedule_store.release_claimed(
                    conn, self.id, self.app.clock.now()
                )
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            # Their short planning lease gives them back soon anyway.
            log.warning(
                "stopping: cannot give back unplanned events: %s",
                brief(exc),
                extra={"action": "planning_hand_back_failed"},
            )
            return
        log.info(
            "stopping: planning interrupted, %d event(s) and schedule(s) given back",
            released,
            extra={"action": "planning_handed_back"},
        )

    async def _plan_step(self, *, timers: bool = True) -> tuple[bool, bool]:
        """Plan what is new and, with `timers`, fire what is due and tidy (the sending runs
        beside it). Returns (planned anything, fired or tidied anything)."""
        planned = await self.planner.plan_pending()
        self.stats.add(planned)
        if not timers:
            return bool(planned.events), False
        fired = await self.timers.fire_due()
        tidied = await self._housekeeping()
        self.stats.add(fired)
        if tidied:
            self.dispatcher.wake()
        return bool(planned.events), bool(fired.events or tidied)

    async def _housekeeping(self) -> int:
        """Settle fallback copies, release closed grouping windows, and tell operations
        when every provider of a channel went down."""
        async with self.app.engine.begin() as conn:
            settled = await fallback.sweep(conn, self.app.clock.now())
            settled += await enqueue(conn, self.alerts.take(self.app.clock.now()))
        return settled + await self.grouper.flush()

    async def next_due(self) -> datetime | None:
        """The earliest due time among waiting messages and pending schedules."""
        due, _late = await self._wake_times()
        return due

    async def _wake_times(self) -> tuple[datetime | None, bool]:
        """The next due time (for the wake-up job), and whether a schedule or a grouping
        window is due already (the timers' work; due messages are the dispatcher's)."""
        now = self.app.clock.now()
        async with reads(self.app.engine) as conn:
            # Waiting messages include those held in a grouping window.
            messages = await outbox_queries.next_due_at(conn)
            window = await outbox_queries.next_window_close(conn)
            schedule = await schedule_store.next_due_at(conn)
        known = [utc(t) for t in (messages, schedule) if t is not None]
        late = any(t is not None and utc(t) <= now for t in (window, schedule))
        return (min(known) if known else None), late

    def _seconds_until(self, due: datetime | None) -> float | None:
        if due is None:
            return None
        return max(0.0, (utc(due) - self.app.clock.now()).total_seconds())

    async def close(self) -> None:
        if self._own_channels:
            for channel in self.channels.values():
                with contextlib.suppress(Exception):
                    await channel.close()


_RELOOK_AFTER = 0.05  # seconds before looking again at timers that are due but were not fired


class _TimerTurns:
    """When the running worker looks at its timers (due schedules, grouping windows,
    fallback copies, the next due time). Each look costs a few transactions; under load the
    worker is woken for new events tens of times a second, and looking every time cost
    more than planning the events. So it looks when its wake-up job fires (something fell
    due), while the last look found work (a backlog), and at least every `every` seconds
    (what another worker armed meanwhile)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.due = True  # the wake-up job fired
        self.busy = False  # the last look fired or tidied something
        self.moved = False  # planned since the next due time was last read
        self._last_look = float("-inf")

    def take(self) -> bool:
        if self.due or self.busy or self.stale():
            self.due = False
            self._last_look = time.monotonic()
            return True
        return False

    def stale(self) -> bool:
        return time.monotonic() - self._last_look >= self.every

    def looked(self) -> None:
        """The next due time was read (and the wake-up job set from it)."""
        self.moved = False
        self._last_look = time.monotonic()


async def _unless_stopped(work: Coroutine[Any, Any, _T], stop: asyncio.Event) -> _T | None:
    """`work`'s result, or None if `stop` was set first: `work` is then cancelled (and
    awaited, so that what it was writing is committed or rolled back before we go on)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()  # we are being cancelled ourselves
        raise
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if task.cancelled():
            return None
        raise  # this task itself was cancelled meanwhile
    return None


async def _first(*events: asyncio.Event, seconds: float) -> None:
    """Wait until any of `events` is set, or `seconds` have passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
