"""Order event files: good lines kept, bad ones reported by number, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import InputError
from notifier.services import orders as service
from notifier.store.orders_table import order_events, orders
from notifier.store.tables import events
from tests.orders.helpers import NOW, add_customers, count

CSV = """order_id,status,customer_id,promised_date,carrier,tracking,note
A-1,placed,c-1,2026-03-04,,,
A-1,shipped,,,UPS,1Z999,
A-2,placed,nobody,,,,
A-1,placed,,,,,
A-3,shipped,c-1,04/03/2026,,,
A-3,lost,c-1,,,,
"A-1",delayed,,2026-03-06,,,"Storm at the hub,
roads closed"
A-1,delayed,,2026-03-06,,,"Storm at the hub,
roads closed"
A-4,placed,c-1
"""


async def test_a_csv_keeps_the_good_lines_and_reports_the_bad(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await add_customers(engine, "c-1")
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    report = await service.import_order_events(engine, path, now=NOW, batch_size=2)
    assert (report.recorded, report.ignored) == (3, 1)
    assert [(e.line, e.reason) for e in report.errors] == [
        (4, "customer 'nobody' does not exist"),
        (
            5,
            "order 'A-1' cannot go from 'shipped' to 'placed' (allowed from 'shipped': "
            "delayed, delivered, exception, out_for_delivery)",
        ),
        (6, "promised_date: '04/03/2026' is not a date (YYYY-MM-DD)"),
        (
            7,
            "status: 'lost' is not one of placed, confirmed, shipped, out_for_delivery, "
            "delivered, delayed, exception, cancelled, returned",
        ),
        (12, "expected 7 fields like the header, found 3"),
    ]
    view = await service.get_order(engine, "A-1")
    assert [(h.status, h.source) for h in view.history] == [
        ("placed", "import"),
        ("shipped", "import"),
        ("delayed", "import"),
    ]
    assert view.history[-1].note == "Storm at the hub,\nroads closed"
    assert (await count(engine, orders), await count(engine, order_events)) == (1, 3)
    # A source resending the latest state: accepted, ignored, nothing written.
    path.write_text("order_id,status,promised_date\nA-1,delayed,2026-03-06\n", encoding="utf-8")
    again = await service.import_order_events(engine, path, now=NOW)
    assert (again.recorded, again.ignored, again.errors) == (0, 1, [])
    assert await count(engine, events) == 3


async def test_json_lines(engine: AsyncEngine, tmp_path: Path) -> None:
    await add_customers(engine, "7")
    lines = [
        json.dumps({"order_id": 1001, "status": "placed", "customer_id": 7}),
        "",
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"order_id": "1001", "status": "shipped", "carrier": "DHL", "eta": "x"}),
        json.dumps({"order_id": "1001", "status": "shipped", "carrier": "DHL", "tracking": None}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await service.import_order_events(engine, path, now=NOW)
    assert report.recorded == 2
    assert [(e.line, e.reason.split(" (")[0]) for e in report.errors] == [
        (3, "invalid JSON: Expecting property name enclosed in double quotes"),
        (4, "expected a JSON object, got array"),
        (5, "unknown key(s) 'eta'"),
    ]
    assert (await service.get_order(engine, "1001")).order.carrier == "DHL"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.txt", b"order_id,status\n", "unknown file type '.txt'"),
        (
            "e.csv",
            b"order_id,state\nA,placed\n",
            "CSV header has missing column(s) status; unknown column(s) 'state'",
        ),
        ("e.csv", b"", "no CSV header"),
        ("e.csv", b"order_id,status\nA-1,plac\xe9\n", "line 2: not UTF-8 text"),
    ],
)
async def test_files_refused_before_anything_is_written(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    from notifier.store.db import create_engine
    from notifier.store.migrate import upgrade
    from tests.databases import sqlite_url

    engine = create_engine(sqlite_url(tmp_path))
    try:
        await upgrade(engine)
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            await service.import_order_events(engine, path, now=NOW)
        assert await count(engine, events) == 0
    finally:
        await engine.dispose()
