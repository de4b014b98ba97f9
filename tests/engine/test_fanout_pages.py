"""An audience is read in pages that start small and grow to the batch size, so the first
customers' messages are written (and can leave) while the rest is still being read and
rendered."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.clock import VirtualClock
from notifier.config import Settings
from notifier.domain.customers import Customer
from notifier.engine.fanout import FIRST_PAGE, FanOut
from notifier.store.customers import upsert_customers
from tests.orders.helpers import NOW


@pytest.mark.parametrize(
    ("batch", "audience", "pages"),
    [
        (500, 400, [50, 100, 200, 50]),
        (120, 400, [50, 100, 120, 120, 10]),
        (30, 100, [30, 30, 30, 10]),
        (500, 50, [50]),
    ],
)
async def test_the_first_pages_are_small_then_grow_to_the_batch_size(
    engine: AsyncEngine, batch: int, audience: int, pages: list[int]
) -> None:
    assert FIRST_PAGE == 50
    people = [
        Customer(
            f"c{i:04d}",
            f"C {i}",
            f"c{i}@example.com",
            None,
            "en",
            "UTC",
            services=frozenset({"radio"}),
        )
        for i in range(audience)
    ]
    async with engine.begin() as conn:
        await upsert_customers(conn, people, NOW)
    settings = Settings(delivery={"batch_size": batch})
    fanout = FanOut(engine, templates=None, settings=settings, clock=VirtualClock(NOW))  # type: ignore[arg-type]
    rule: Any = SimpleNamespace(audience="affected")
    seen = [page async for page in fanout._pages(rule, {"incident": {"affects": ["radio"]}})]
    assert [len(page) for page in seen] == pages
    # Every customer once, in order.
    assert [c.id for page in seen for c in page] == [p.id for p in people]
