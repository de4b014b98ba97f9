"""Source watchers against real shop databases: every change told exactly once.

The shop is a real SQLite file (written by the stdlib driver, as another program would)
or a real PostgreSQL database; notifier's own database is of the same kind.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.clock import VirtualClock
from notifier.config import SourceSettings
from notifier.sources.reader import SourceUnavailable
from notifier.sources.watcher import SourceWatcher
from notifier.store.db import create_engine
from notifier.store.events import events_for_subject
from notifier.store.migrate import upgrade
from notifier.store.tables import events
from tests.databases import postgres_database, shared_migrated_database, sqlite_url
from tests.orders.helpers import NOW, add_customers, count
from tests.orders.shops import PostgresShop, Shop, SqliteShop
from tests.waiting import wait_for

T0 = NOW - timedelta(days=1)
T = TypeVar("T")


@dataclass
class Setup:
    engine: AsyncEngine  # notifier's own database
    shop: Shop
    clock: VirtualClock

    def watcher(self, **settings: Any) -> SourceWatcher:
        values: dict[str, Any] = {"name": "shop", "url": self.shop.url, "table": "shop"}
        return SourceWatcher(SourceSettings(**(values | settings)), self.engine, clock=self.clock)

    async def kinds(self, order_id: str) -> list[str]:
        async with self.engine.connect() as conn:
            return [e.kind for e in await events_for_subject(conn, "order", order_id)]


class SideLoop:
    """An event loop in a thread of its own, for module fixtures.

    They are first asked for from inside a test's event loop, which cannot run another
    coroutine to completion; and one loop for the module lets an async context manager
    entered in one call be left in another.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1)
        self._loop = asyncio.new_event_loop()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return self._pool.submit(lambda: self._loop.run_until_complete(make())).result()

    def close(self) -> None:
        self._pool.submit(self._loop.close).result()
        self._pool.shutdown()


@pytest.fixture(scope="module")
def side_loop() -> Iterator[SideLoop]:
    loop = SideLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory, side_loop: SideLoop) -> Path:
    """A migrated notifier database to copy: migrating SQLite costs more than a test."""
    directory = tmp_path_factory.mktemp("migrated")

    async def build() -> None:
        engine = create_engine(sqlite_url(directory))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    side_loop.run(build)
    return directory / "notifier.db"


@pytest.fixture(scope="module")
def shop_database(side_loop: SideLoop) -> Iterator[str]:
    """One PostgreSQL database for the module's shops; each test makes its own table."""
    database = postgres_database()
    url = side_loop.run(database.__aenter__)
    yield url
    side_loop.run(lambda: database.__aexit__(None, None, None))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    clock = VirtualClock(NOW)
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("migrated_sqlite"), tmp_path / "notifier.db")
        engine = create_engine(sqlite_url(tmp_path))
        shop: Shop = SqliteShop(tmp_path)
    else:
        engine = create_engine(await shared_migrated_database())
        shop = await PostgresShop.create(request.getfixturevalue("shop_database"))
    try:
        await add_customers(engine, "c-1", "c-2")
        yield Setup(engine, shop, clock)
    finally:
        await shop.close()
        await engine.dispose()


async def _watch(s: Setup, **settings: Any) -> tuple[int, SourceWatcher]:
    """A watcher as after a restart: a new object, only the stored mark carries over."""
    watcher = s.watcher(**settings)
    try:
        return await watcher.poll_once(), watcher
    finally:
        await watcher.close()


async def test_rows_become_events_exactly_once_across_restarts(setup: Setup) -> None:
    s = setup
    await s.shop.put(1, "shipped", T0, customer_id="c-1")  # before the first poll: untold
    assert (await _watch(s))[0] == 0
    assert await count(s.engine, events) == 0
    # Three changes sharing one timestamp, read two at a time: none lost, none twice.
    for order_id in (2, 3, 4):
        await s.shop.put(order_id, "placed", NOW, customer_id="c-1", promised_date=date(2026, 3, 4))
    read, watcher = await _watch(s, batch_size=2)
    assert read == 3 and watcher.stats.recorded == 3
    await s.shop.put(
        2,
        "shipped",
        NOW + timedelta(minutes=1),
        customer_id="c-1",
        carrier="UPS",
        tracking="1Z",
        promised_date=date(2026, 3, 4),
    )
    await s.shop.put(1, "delivered", NOW + timedelta(minutes=2), customer_id="c-1")
    assert (await _watch(s, batch_size=2))[0] == 2
    assert (await _watch(s))[0] == 0  # restarted: nothing new, nothing replayed
    assert await s.kinds("2") == ["order.placed", "order.shipped"]
    assert await s.kinds("1") == ["order.delivered"]
    assert await count(s.engine, events) == 5


async def test_the_first_start_can_read_the_whole_source(setup: Setup) -> None:
    await setup.shop.put(1, "placed", T0, customer_id="c-1")
    read, watcher = await _watch(setup, start="beginning")
    assert (read, watcher.stats.recorded) == (1, 1)


async def test_an_empty_source_at_first_start_keeps_what_comes_while_stopped(setup: Setup) -> None:
    assert (await _watch(setup))[0] == 0  # notes "from the beginning", though start is "now"
    await setup.shop.put(1, "placed", T0, customer_id="c-1")
    assert (await _watch(setup))[0] == 1


async def test_a_crash_between_event_and_mark_replays_one_ignored_row(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    assert (await _watch(s))[0] == 0
    await s.shop.put(1, "placed", NOW, customer_id="c-1")
    await s.shop.put(2, "placed", NOW + timedelta(seconds=1), customer_id="c-1")
    watcher = s.watcher()
    real_save = watcher._save_mark
    saved: list[object] = []

    async def save_then_crash(values: list[Any] | None) -> None:
        if saved:  # the second row's event is committed; its mark never is
            raise OSError("killed")
        saved.append(values)
        await real_save(values)

    monkeypatch.setattr(watcher, "_save_mark", save_then_crash)
    with pytest.raises(OSError, match="killed"):
        await watcher.poll_once()
    await watcher.close()
    read, restarted = await _watch(s)
    assert (read, restarted.stats.recorded, restarted.stats.ignored) == (1, 0, 1)
    assert await count(s.engine, events) == 2


async def test_an_illegal_change_is_skipped_and_does_not_block(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    s = setup
    caplog.set_level(logging.WARNING, logger="notifier.sources")
    assert (await _watch(s))[0] == 0
    await s.shop.put(1, "delivered", NOW, customer_id="c-1")
    await s.shop.put(2, "placed", NOW + timedelta(seconds=1), customer_id="nobody")
    assert (await _watch(s))[0] == 2
    await s.shop.put(1, "placed", NOW + timedelta(seconds=2), customer_id="c-1")  # back in time
    await s.shop.put(3, "placed", NOW + timedelta(seconds=3), customer_id="c-2")
    read, watcher = await _watch(s)
    assert (read, watcher.stats.recorded, watcher.stats.skipped) == (2, 1, 1)
    assert await s.kinds("3") == ["order.placed"]
    skipped = [
        r.getMessage() for r in caplog.records if getattr(r, "action", "") == "source_row_skipped"
    ]
    assert skipped == [
        "source 'shop': row of order '2' skipped: customer 'nobody' does not exist",
        "source 'shop': row of order '1' skipped: order '1' cannot go from 'delivered' to "
        "'placed' (allowed from 'delivered': returned)",
    ]
    assert (await _watch(s))[0] == 0  # the skipped row stays behind the mark


async def test_the_source_going_away_and_back_loses_and_replays_nothing(setup: Setup) -> None:
    s = setup
    assert (await _watch(s))[0] == 0
    await s.shop.put(1, "placed", NOW, customer_id="c-1")
    assert (await _watch(s))[0] == 1
    await s.shop.go_away()
    await s.shop.put(1, "shipped", NOW + timedelta(minutes=1), customer_id="c-1")  # meanwhile
    with pytest.raises(SourceUnavailable, match="source 'shop': "):
        await _watch(s)
    await s.shop.come_back()
    assert (await _watch(s))[0] == 1
    assert await s.kinds("1") == ["order.placed", "order.shipped"]


async def test_run_backs_off_in_one_line_and_resumes(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    s = setup
    assert (await _watch(s))[0] == 0
    await s.shop.go_away()
    await s.shop.put(1, "placed", NOW, customer_id="c-1")
    watcher = s.watcher(interval=0.01)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="notifier.sources"):
        task = asyncio.create_task(watcher.run(stop))
        await wait_for(
            lambda: any(
                getattr(r, "action", None) == "source_unavailable" for r in caplog.records
            ),
            what="the watcher to log that the source is unavailable",
        )
        await s.shop.come_back()
        await wait_for(lambda: watcher.stats.recorded, what="the watcher to record the event")
        stop.set()
        await task
    await watcher.close()
    assert watcher.stats.recorded == 1 and await s.kinds("1") == ["order.placed"]
    actions = [getattr(r, "action", None) for r in caplog.records]
    down = [r for r in caplog.records if getattr(r, "action", None) == "source_unavailable"]
    assert down and actions[-1] == "source_recovered"
    for record in down:
        message = record.getMessage()
        assert "\n" not in message and record.exc_info is None, message
        assert message.startswith("source 'shop': ") and "retrying in" in message
    # Backoff: each failed poll waits twice as long as the one before.
    delays = [float(r.getMessage().rsplit("retrying in ", 1)[1].rstrip("s")) for r in down]
    assert delays[:3] == [0.02, 0.04, 0.08][: len(delays[:3])]


async def test_a_query_source_an_id_mark_and_the_shops_own_words(setup: Setup) -> None:
    s = setup
    query = "SELECT id AS event_no, id + 1000 AS ref, status AS state, customer_id FROM shop"
    settings: dict[str, Any] = {
        "table": None,
        "query": query,
        "mark": "id",
        "start": "beginning",
        "columns": {
            "id": "event_no",
            "status": "state",
            "customer": "customer_id",
            "promised_date": "",
            "carrier": "",
            "tracking": "",
            "updated_at": "",
        },
        "statuses": {"in_transit": "shipped"},
    }
    await s.shop.put(1, "in_transit", NOW, customer_id="c-1")
    read, watcher = await _watch(s, **settings)
    assert (read, watcher.stats.recorded) == (1, 1)
    assert await s.kinds("1") == ["order.shipped"]
