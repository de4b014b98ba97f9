"""The API's store modules on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName
from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.outbox import deliveries
from notifier.services import apikeys
from notifier.store import contacts, inbound, preferences
from notifier.store.api_tables import delivery_events
from notifier.store.customers import set_opt_out, upsert_customers
from notifier.store.tables import outbox

NOW = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def _row(provider_id: str, status: str = "sent") -> dict[str, object]:
    return {
        "idempotency_key": f"k-{provider_id}",
        "rule": "r",
        "template": "t",
        "customer_id": "c1",
        "subject_type": "incident",
        "subject_id": "1",
        "channel": "sms",
        "recipient": "+12015550123",
        "locale": "en",
        "status": status,
        "attempts": 1,
        "provider_id": provider_id,
        "created_at": NOW,
        "sent_at": NOW,
        "updated_at": NOW,
    }


async def test_callbacks_move_rows_forward_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(outbox), [_row("SM1"), _row("SM2"), _row("SM3", "sending")])
        r = await deliveries.record_callback(
            conn, provider_id="SM1", status="delivered", error_code=None, now=NOW
        )
        assert r.status == "delivered"
        for late in ("sent", "queued", "undelivered"):
            r = await deliveries.record_callback(
                conn, provider_id="SM1", status=late, error_code="30003", now=NOW
            )
            assert r.status is None  # delivered is final
        r = await deliveries.record_callback(
            conn, provider_id="SM2", status="failed", error_code="30005", now=NOW
        )
        assert r.status == "failed"
        # A row still being sent is the dispatcher's: never touched by a callback.
        r = await deliveries.record_callback(
            conn, provider_id="SM3", status="delivered", error_code=None, now=NOW
        )
        assert r.outbox_id is not None and r.status is None
        rows = {
            p: (s, e, reason)
            for p, s, e, reason in await conn.execute(
                select(outbox.c.provider_id, outbox.c.status, outbox.c.error_code, outbox.c.reason)
            )
        }
    assert rows["SM1"][0] == "delivered"
    assert rows["SM2"] == (
        "failed",
        "30005",
        "Twilio: failed, error 30005: unknown number (it does not exist)",
    )
    assert rows["SM3"][0] == "sending"


async def test_orphan_callbacks_find_their_row_later(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        r = await deliveries.record_callback(
            conn, provider_id="SM9", status="delivered", error_code=None, now=NOW
        )
        assert r.outbox_id is None
        assert await deliveries.apply_orphans(conn, NOW) == 0
        await conn.execute(insert(outbox), [_row("SM9")])
        assert await deliveries.apply_orphans(conn, NOW + timedelta(minutes=1)) == 1
        assert await deliveries.apply_orphans(conn, NOW + timedelta(minutes=1)) == 0
        status = await conn.scalar(select(outbox.c.status))
        linked = await conn.scalar(select(delivery_events.c.outbox_id))
    assert status == "delivered" and linked is not None


async def test_api_keys_hashed_found_and_revoked(engine: AsyncEngine) -> None:
    stored, key = await apikeys.create_key(engine, name="helpdesk", role="support", now=NOW)
    assert key.startswith("ntf_") and len(key) == 47 and stored.prefix == key[:12]
    found = await apikeys.authenticate(engine, key)
    assert found is not None and found.role == "support"
    assert await apikeys.authenticate(engine, key + "x") is None
    assert await apikeys.authenticate(engine, stored.prefix) is None
    await apikeys.revoke_key(engine, stored.id, now=NOW)
    assert await apikeys.authenticate(engine, key) is None
    with pytest.raises(InvalidTransition):
        await apikeys.revoke_key(engine, stored.id, now=NOW)
    with pytest.raises(NotFound):
        await apikeys.revoke_key(engine, 999, now=NOW)
    with pytest.raises(InputError, match="role"):
        await apikeys.create_key(engine, name="x", role="root", now=NOW)
    (listed,) = await apikeys.list_keys(engine)
    assert key not in repr(listed.as_json())


async def test_contacts_inbound_and_preferences(engine: AsyncEngine) -> None:
    people = [
        Customer("c1", "A", None, "+12015550123", "en", "UTC"),
        Customer("c2", "B", None, "+12015550123", "en", "UTC"),
    ]
    async with engine.begin() as conn:
        await upsert_customers(conn, people, NOW)
        assert await preferences.ids_by_phone(conn, "+12015550123") == ["c1", "c2"]
        for minutes in (30, 10):
            await contacts.insert_contact(
                conn,
                customer_id="c1",
                channel="phone",
                at=NOW + timedelta(minutes=minutes),
                subject=None,
                source="desk",
                now=NOW,
            )
        first = await contacts.first_contacts(conn, ["c1", "c2"], NOW, NOW + timedelta(hours=1))
        assert first == {"c1": NOW + timedelta(minutes=10)}
        new = dict(customer_id="c1", from_number="+1", body="hi", kind="reply", now=NOW)
        assert await inbound.record_inbound(conn, provider_sid="SMa", **new) is True
        assert await inbound.record_inbound(conn, provider_sid="SMa", **new) is False
        await set_opt_out(conn, "c1", ChannelName.SMS, "x", NOW, "incidents")
        await set_opt_out(conn, "c1", ChannelName.SMS, "x", NOW)
        assert await preferences.opt_out_choices(conn, "c1") == {
            ("sms", "incidents"),
            ("sms", "*"),
        }
        assert await preferences.clear_channel_opt_outs(conn, "c1", ChannelName.SMS) == 2
        with pytest.raises(NotFound):
            await preferences.opt_out_choices(conn, "nobody")
