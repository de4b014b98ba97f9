"""Where previews and lint render: a small thread pool, never the event loop.

The console's preview once rendered on the event loop the in-process worker shares: four
concurrent previews of a slow draft held `/healthz` for 8 to 16 s. Here a render runs in
one of `WORKERS` threads; the event loop only waits for it. Each render is bounded by its
own budget (`limits`: steps and 2 s, checked inside the thread, which is what stops a slow
draft), and waiting for a whole job (a lint of the set renders every template) by
`JOB_SECONDS`.

Each caller (a console session, an API key) may have `PER_CALLER` jobs in the pool at once,
and the pool holds at most `QUEUED` in all: beyond either, `RenderBusy` (429) at once
rather than a queue that grows while someone keeps typing. A caller's slot is given back
when its thread finishes, not when the caller stops waiting, so giving up does not let
anyone pile up renders.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from notifier.errors import NotifierError, TemplateError

T = TypeVar("T")

WORKERS = 2
PER_CALLER = 2
QUEUED = 16
JOB_SECONDS = 60.0


class RenderBusy(NotifierError):
    """Too many previews at once for this caller (or for the server): try again shortly."""


class RenderPool:
    def __init__(
        self, *, workers: int = WORKERS, per_caller: int = PER_CALLER, queued: int = QUEUED
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")
        self.per_caller = per_caller
        self.queued = queued
        self._lock = threading.Lock()  # done-callbacks run in the pool's threads
        self._callers: dict[str, int] = {}
        self.running = 0  # jobs started in a thread and not finished
        self.in_pool = 0  # jobs submitted and not finished (running or waiting)

    def _take(self, caller: str) -> None:
        with self._lock:
            if self._callers.get(caller, 0) >= self.per_caller:
                raise RenderBusy(
                    f"{self.per_caller} previews are already running for you; "
                    "wait for one to finish"
                )
            if self.in_pool >= self.queued:
                raise RenderBusy("the server is busy rendering previews; try again shortly")
            self._callers[caller] = self._callers.get(caller, 0) + 1
            self.in_pool += 1

    def _give_back(self, caller: str) -> None:
        with self._lock:
            self.in_pool -= 1
            left = self._callers.get(caller, 1) - 1
            if left:
                self._callers[caller] = left
            else:
                self._callers.pop(caller, None)

    async def run(self, caller: str, job: Callable[[], T], *, what: str = "the preview") -> T:
        """`job()` in a pool thread, for `caller`; RenderBusy over the caller's share."""
        self._take(caller)
        context = contextvars.copy_context()

        def counted() -> T:
            with self._lock:
                self.running += 1
            try:
                return context.run(job)
            finally:
                with self._lock:
                    self.running -= 1

        try:
            future: Future[T] = self._executor.submit(counted)
        except BaseException:
            self._give_back(caller)
            raise
        future.add_done_callback(lambda _: self._give_back(caller))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), JOB_SECONDS)
        except TimeoutError:
            raise TemplateError(f"{what} did not finish within {JOB_SECONDS:g} s") from None


# One for the process: previews and lint from every session and key share its threads.
PREVIEWS = RenderPool()
