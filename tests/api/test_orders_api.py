"""/api/orders: events create and move orders (201), repeats are ignored (200), bad input
is 422 naming the field, unknown customers and orders 404, illegal moves 409; and a posted
event reaches the customer through the worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from notifier.clock import VirtualClock
from notifier.runtime.simulation import advance_to
from notifier.runtime.worker import Worker
from tests.api.conftest import ApiEnv

PLACED = {"status": "placed", "customer_id": "c-en", "promised_date": "2026-03-05"}
SHIPPED = {"status": "shipped", "carrier": "UPS", "tracking": "1Z999"}


async def _post(c: httpx.AsyncClient, order: str, body: dict[str, Any]) -> httpx.Response:
    return await c.post(f"/api/orders/{order}/events", json=body)


async def test_events_create_and_move_an_order_and_repeats_are_ignored(
    sqlite_env: ApiEnv,
) -> None:
    await sqlite_env.load_customers()
    async with await sqlite_env.client("ops") as ops, await sqlite_env.client("viewer") as viewer:
        created = await _post(ops, "A-1", PLACED)
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["id"], body["customer_id"], body["status"]) == ("A-1", "c-en", "placed")
        assert body["promised_date"] == "2026-03-05" and body["ignored"] is False
        assert body["event_id"] is not None and body["is_open"] is True

        shipped = await _post(ops, "A-1", SHIPPED)
        assert shipped.status_code == 201, shipped.text
        assert (shipped.json()["status"], shipped.json()["tracking"]) == ("shipped", "1Z999")

        repeat = await _post(ops, "A-1", SHIPPED)  # the source resends
        assert repeat.status_code == 200, repeat.text
        assert repeat.json()["ignored"] is True and repeat.json()["event_id"] is None
        assert repeat.json()["status"] == "shipped"

        shown = await viewer.get("/api/orders/A-1")
        assert shown.status_code == 200
        history = shown.json()["history"]
        assert [h["status"] for h in history] == ["placed", "shipped"]
        assert {h["source"] for h in history} == {"api"}

        await _post(ops, "A-2", {**PLACED, "status": "delivered"})
        listed = (await viewer.get("/api/orders", params={"customer_id": "c-en"})).json()
        assert {o["id"] for o in listed["orders"]} == {"A-1", "A-2"}
        opened = (await viewer.get("/api/orders", params={"open": "true"})).json()
        assert [o["id"] for o in opened["orders"]] == ["A-1"]
        other = (await viewer.get("/api/orders", params={"customer_id": "c-fr"})).json()
        assert other == {"orders": []}


async def test_an_illegal_move_is_409_with_the_reason(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    async with await sqlite_env.client("ops") as ops:
        assert (await _post(ops, "B-1", {**PLACED, "status": "delivered"})).status_code == 201
        back = await _post(ops, "B-1", {"status": "shipped"})
        assert back.status_code == 409
        assert "cannot go from 'delivered' to 'shipped'" in back.json()["detail"]
        shown = (await ops.get("/api/orders/B-1")).json()
        assert shown["status"] == "delivered" and len(shown["history"]) == 1


async def test_bad_input_is_422_naming_the_field(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    async with await sqlite_env.client("ops") as ops:
        cases = {
            "promised_date": {**PLACED, "promised_date": "next tuesday"},
            "status": {**PLACED, "status": "lost"},
            "note": {**PLACED, "note": "a\x00b"},
            "surprise": {**PLACED, "surprise": 1},
        }
        for field, body in cases.items():
            response = await _post(ops, "C-1", body)
            assert response.status_code == 422, (field, response.text)
            assert field in [e["loc"][1] for e in response.json()["detail"]], response.json()
        # Checks only the service makes: the first event names a customer; a sane date.
        for field, body in (
            ("customer_id", {"status": "placed"}),
            ("promised_date", {**PLACED, "promised_date": "2062-03-05"}),
            ("tracking", {**PLACED, "tracking": "1Z999"}),  # no carrier
        ):
            response = await _post(ops, "C-1", body)
            assert response.status_code == 422, (field, response.text)
            assert response.json()["detail"][0]["loc"] == ["body", field]
        assert (await ops.get("/api/orders/C-1")).status_code == 404  # nothing written


async def test_unknown_customers_and_orders_are_404(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    async with await sqlite_env.client("ops") as ops:
        unknown = await _post(ops, "D-1", {**PLACED, "customer_id": "nobody"})
        assert unknown.status_code == 404
        assert "nobody" in unknown.json()["detail"]
        missing = await ops.get("/api/orders/D-1")
        assert missing.status_code == 404
        assert "D-1" in missing.json()["detail"]


async def test_a_posted_shipped_event_makes_the_worker_send_the_email(
    sqlite_env: ApiEnv,
) -> None:
    env = sqlite_env
    await env.load_customers()
    async with await env.client("ops") as ops:
        assert (await _post(ops, "E-1", PLACED)).status_code == 201
        assert (await _post(ops, "E-1", SHIPPED)).status_code == 201
    clock = env.clock
    assert isinstance(clock, VirtualClock)
    worker = Worker(env.app)
    try:
        # Past the grouping window: the shipped email is grouped per customer.
        await advance_to(worker, clock, clock.now() + timedelta(minutes=5))
    finally:
        await worker.close()
    (mail,) = env.sink.messages
    assert list(mail.rcpt_tos) == ["ann@example.com"]
    assert str(mail.message["Subject"]) == "Your order E-1 is on its way"
    text = mail.message.get_body(("plain",))
    assert text is not None and "1Z999" in text.get_content()
