"""The worker: plans new events and sends what is due, until stopped or until idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta

from notifier.app import App
from notifier.channels.base import Channel
from notifier.clock import utc
from notifier.domain.messages import ChannelName
from notifier.engine.planner import Planner, PlanStats
from notifier.outbox.dispatcher import Dispatcher
from notifier.outbox.retry import RetryPolicy
from notifier.store import events as event_store
from notifier.store import outbox as outbox_store

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        app: App,
        channels: Mapping[ChannelName, Channel] | None = None,
        *,
        worker_id: str | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.app = app
        self.id = worker_id or new_worker_id()
        self._own_channels = channels is None
        self.channels = dict(channels) if channels is not None else app.make_channels()
        delivery = app.settings.delivery
        self.planner = Planner(
            app.engine,
            rules=app.rules,
            templates=app.templates,
            settings=app.settings,
            clock=app.clock,
            worker_id=self.id,
        )
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
        )
        self._poll = poll_interval
        self.stats = PlanStats()
        self.sent_batches = 0

    async def step(self) -> bool:
        """Plan what is new and send one batch of what is due. True if anything happened."""
        planned = await self.planner.plan_pending()
        self.stats.events += planned.events
        self.stats.planned += planned.planned
        self.stats.suppressed += planned.suppressed
        self.stats.failed += planned.failed
        sent = await self.dispatcher.run_once()
        if sent:
            self.sent_batches += 1
        return bool(planned.events or sent)

    async def run_until_idle(self, max_wait: float = 600.0) -> None:
        """Work until nothing is due; wait for retries that fall due within `max_wait` s."""
        try:
            while True:
                if await self.step():
                    continue
                wait = await self._seconds_to_next_work()
                if wait is None or wait > max_wait:
                    return
                await self.app.clock.sleep(wait)
        finally:
            await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set. Wakes for due retries and polls for new events."""
        try:
            while not stop.is_set():
                if await self.step():
                    continue
                wait = await self._seconds_to_next_work()
                timeout = self._poll if wait is None else min(self._poll, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(timeout, 0.01))
        finally:
            await self.close()

    async def _seconds_to_next_work(self) -> float | None:
        async with self.app.engine.connect() as conn:
            if await event_store.count_unplanned(conn):
                return self._poll  # claimed by another worker; look again soon
            due = await outbox_store.next_due_at(conn)
        if due is None:
            return None
        return max(0.0, (utc(due) - self.app.clock.now()).total_seconds())

    async def close(self) -> None:
        if self._own_channels:
            for channel in self.channels.values():
                await channel.close()
