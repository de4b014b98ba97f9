"""Long imports say how far they are: after each batch, the rows read so far (bad ones
too), up to every row of the file; the CLI turns that into a progress bar."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.services import orders as order_service
from notifier.services.customers import import_customers
from tests.orders.helpers import NOW, add_customers
from tests.orders.test_order_import import CSV as ORDER_EVENTS


async def test_a_customer_import_reports_each_batch(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    rows = [f"c{i},Name {i},c{i}@example.com,,en,UTC,radio" for i in range(7)]
    rows.insert(3, "bad,Bad,not-an-email,,en,UTC,radio")
    path.write_text("id,name,email,phone,locale,timezone,services\n" + "\n".join(rows) + "\n")
    seen: list[int] = []
    report = await import_customers(
        engine, path, default_region="US", default_locale="en", default_timezone="UTC",
        now=NOW, batch_size=3, progress=seen.append,
    )
    assert report.created == 7 and len(report.errors) == 1
    assert seen == sorted(seen) and seen[-1] == 8  # every row, the bad one included
    assert len(seen) >= 3  # one report per batch, not one at the end


async def test_an_order_import_reports_each_batch(engine: AsyncEngine, tmp_path: Path) -> None:
    await add_customers(engine, "c-1")
    path = tmp_path / "events.csv"
    path.write_text(ORDER_EVENTS, encoding="utf-8")
    seen: list[int] = []
    report = await order_service.import_order_events(
        engine, path, now=NOW, batch_size=2, progress=seen.append
    )
    total = report.recorded + report.ignored + len(report.errors)
    assert seen == sorted(seen) and seen[-1] == total == 9
    assert len(seen) >= 4
