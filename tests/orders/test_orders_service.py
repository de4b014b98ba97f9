"""Recording order events: state, history and event in one transaction, on both stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.services import orders as service
from notifier.services.order_input import parse_change
from notifier.store.events import events_for_subject
from notifier.store.orders_table import order_events, orders
from notifier.store.tables import events
from tests.orders.helpers import NOW, add_customers, count

LATER = NOW + timedelta(hours=3)


async def _counts(engine: AsyncEngine) -> tuple[int, int, int]:
    return (
        await count(engine, orders),
        await count(engine, order_events),
        await count(engine, events),
    )


async def test_the_first_event_creates_the_order(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1")
    result = await service.record_order_event(
        engine, "A-1", status="placed", customer_id="c-1", promised_date="2026-03-04", now=NOW
    )
    assert not result.ignored and result.event_id is not None
    order = result.order
    assert (order.id, order.customer_id, order.status, order.promised_date) == (
        "A-1",
        "c-1",
        "placed",
        date(2026, 3, 4),
    )
    # The end of 4 March in New York.
    assert order.promised_by == datetime(2026, 3, 5, 5, 0, tzinfo=UTC)
    async with engine.connect() as conn:
        (event,) = await events_for_subject(conn, "order", "A-1")
    assert (event.id, event.kind, event.from_status, event.to_status) == (
        result.event_id,
        "order.placed",
        None,
        "placed",
    )
    assert event.payload == {
        "promised_date": "2026-03-04",
        "previous_promised_date": None,
        "carrier": None,
        "tracking": None,
        "note": None,
    }
    view = await service.get_order(engine, "A-1")
    assert view.order == order
    assert [(h.status, h.source, h.event_id) for h in view.history] == [
        ("placed", "cli", result.event_id)
    ]


async def test_a_repeated_event_is_accepted_and_ignored(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1")
    first = await service.record_order_event(
        engine,
        "A-1",
        status="shipped",
        customer_id="c-1",
        carrier="UPS",
        tracking="1Z",
        note="Left the warehouse",
        now=NOW,
    )
    before = await _counts(engine)
    for again in (
        {"customer_id": "c-1", "carrier": "UPS", "tracking": "1Z", "note": "Left the warehouse"},
        {},  # nothing given is nothing new
    ):
        result = await service.record_order_event(
            engine, "A-1", status="shipped", now=LATER, **again
        )
        assert result.ignored and result.event_id is None
        assert result.order == first.order  # updated_at untouched
    assert await _counts(engine) == before


async def test_the_same_status_with_news_is_a_new_event(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1")
    await service.record_order_event(
        engine, "A-1", status="shipped", customer_id="c-1", promised_date="2026-03-04", now=NOW
    )
    await service.record_order_event(engine, "A-1", status="delayed", now=NOW)
    later = await service.record_order_event(
        engine, "A-1", status="delayed", promised_date=date(2026, 3, 6), now=LATER
    )
    assert not later.ignored
    assert later.order.promised_date == date(2026, 3, 6)
    assert later.order.promised_by == datetime(2026, 3, 7, 5, 0, tzinfo=UTC)
    note = await service.record_order_event(
        engine, "A-1", status="delayed", note="Storm at the hub", now=LATER
    )
    assert not note.ignored
    async with engine.connect() as conn:
        found = await events_for_subject(conn, "order", "A-1")
    assert [
        (e.kind, e.from_status, e.payload["previous_promised_date"], e.payload["promised_date"])
        for e in found
    ] == [
        ("order.shipped", None, None, "2026-03-04"),
        ("order.delayed", "shipped", "2026-03-04", "2026-03-04"),
        ("order.delayed", "delayed", "2026-03-04", "2026-03-06"),
        ("order.delayed", "delayed", "2026-03-06", "2026-03-06"),
    ]
    assert found[-1].payload["note"] == "Storm at the hub"


async def test_an_illegal_transition_writes_nothing(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1")
    await service.record_order_event(engine, "A-1", status="delivered", customer_id="c-1", now=NOW)
    before = await _counts(engine)
    with pytest.raises(
        InvalidTransition,
        match="order 'A-1' cannot go from 'delivered' to "
        "'out_for_delivery' \\(allowed from 'delivered': "
        "returned\\)",
    ):
        await service.record_order_event(engine, "A-1", status="out_for_delivery", now=LATER)
    with pytest.raises(InvalidTransition):  # a final status with news is still refused
        await service.record_order_event(engine, "A-1", status="delivered", note="x", now=LATER)
    assert await _counts(engine) == before
    assert (await service.get_order(engine, "A-1")).order.status == "delivered"


async def test_delayed_remembers_whether_the_parcel_had_left(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1")
    for order_id, path in (("A-1", ["placed"]), ("A-2", ["placed", "shipped"])):
        for status in [*path, "delayed"]:
            await service.record_order_event(
                engine, order_id, status=status, customer_id="c-1", now=NOW
            )
    assert (await service.record_order_event(engine, "A-1", status="cancelled", now=NOW)).event_id
    with pytest.raises(InvalidTransition, match="'delayed' to 'cancelled'"):
        await service.record_order_event(engine, "A-2", status="cancelled", now=NOW)
    assert (await service.record_order_event(engine, "A-2", status="exception", now=NOW)).event_id


async def test_customers_unknown_missing_or_changed(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1", "c-2")
    with pytest.raises(NotFound, match="customer 'nobody' does not exist"):
        await service.record_order_event(
            engine, "A-1", status="placed", customer_id="nobody", now=NOW
        )
    with pytest.raises(InputError, match="customer_id: needed for the first event of order 'A-1'"):
        await service.record_order_event(engine, "A-1", status="placed", now=NOW)
    assert await _counts(engine) == (0, 0, 0)
    await service.record_order_event(engine, "A-1", status="placed", customer_id="c-1", now=NOW)
    with pytest.raises(InputError, match="belongs to customer 'c-1', not 'c-2'"):
        await service.record_order_event(
            engine, "A-1", status="shipped", customer_id="c-2", now=NOW
        )
    with pytest.raises(InputError, match="tracking: order 'A-1' has no carrier"):
        await service.record_order_event(engine, "A-1", status="shipped", tracking="1Z", now=NOW)
    assert await _counts(engine) == (1, 1, 1)


async def test_two_first_events_at_once_make_one_order(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1")
    results = await asyncio.gather(
        *(
            service.record_order_event(engine, "A-1", status="placed", customer_id="c-1", now=NOW)
            for _ in range(2)
        )
    )
    assert sorted(r.ignored for r in results) == [False, True]
    assert await _counts(engine) == (1, 1, 1)


async def test_list_orders(engine: AsyncEngine) -> None:
    await add_customers(engine, "c-1", "c-2")
    for order_id, customer, status in (
        ("A-1", "c-1", "placed"),
        ("A-2", "c-1", "delivered"),
        ("B-1", "c-2", "shipped"),
    ):
        await service.record_order_event(
            engine, order_id, status=status, customer_id=customer, now=NOW
        )
    mine = await service.list_orders(engine, customer_id="c-1")
    assert sorted(o.id for o in mine) == ["A-1", "A-2"]
    assert [o.id for o in await service.list_orders(engine, customer_id="c-1", open_only=True)] == [
        "A-1"
    ]
    with pytest.raises(NotFound, match="order 'Z' does not exist"):
        await service.get_order(engine, "Z")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("order_id", "  ", "order_id: must not be empty"),
        ("order_id", "x" * 129, "order_id: at most 128 characters (got 129)"),
        ("order_id", "A\n1", "order_id: must be one line of text"),
        ("status", "lost", "status: 'lost' is not one of placed, confirmed, shipped"),
        ("status", None, "status: must not be empty"),
        ("promised_date", "04/03/2026", "promised_date: '04/03/2026' is not a date (YYYY-MM-DD)"),
        ("promised_date", "2062-03-04", "promised_date: 2062-03-04 is more than 10 years"),
        ("promised_date", datetime(2026, 3, 4, tzinfo=UTC), "promised_date: give a date"),
        ("carrier", "c" * 65, "carrier: at most 64 characters"),
        ("tracking", 12, "tracking: expected text, got int"),
        ("note", "n" * 4001, "note: at most 4000 characters"),
    ],
)
def test_bad_values_name_the_field(field: str, value: object, message: str) -> None:
    record: dict[str, object] = {"order_id": "A-1", "status": "placed", field: value}
    with pytest.raises(InputError) as info:
        parse_change(record, "cli", NOW)
    assert str(info.value).startswith(message)


def test_numeric_ids_from_json_are_text() -> None:
    change = parse_change({"order_id": 1001, "status": "placed", "customer_id": 7}, "import", NOW)
    assert (change.order_id, change.customer_id) == ("1001", "7")


async def test_the_payload_has_the_keys_templates_and_rules_are_checked_against(
    engine: AsyncEngine,
) -> None:
    from notifier.engine import sample_context as condition_sample
    from notifier.templating import sample_context

    await add_customers(engine, "c-1")
    await service.record_order_event(engine, "A-1", status="placed", customer_id="c-1", now=NOW)
    async with engine.connect() as conn:
        (event,) = await events_for_subject(conn, "order", "A-1")
    template_payload = sample_context("en", message="order_delayed")["event"]["payload"]
    assert set(event.payload) == set(template_payload)
    assert set(event.payload) <= set(condition_sample()["event"]["payload"])
    order = (await service.get_order(engine, "A-1")).order
    assert set(order.as_context()) == set(sample_context("en", message="order_delayed")["order"])
