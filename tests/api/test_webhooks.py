"""Twilio webhooks: signed or refused; STOP, START, HELP, replies; status callbacks."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import func, select

from notifier.outbox.deliveries import REQUEUE_AFTER
from notifier.runtime.worker import Worker
from notifier.store.api_tables import delivery_events, inbound_messages
from notifier.store.tables import opt_outs, outbox
from tests.api.conftest import BASE, ApiEnv, sign

INBOUND = f"{BASE}/webhooks/twilio/inbound"
STATUS = f"{BASE}/webhooks/twilio/status"
ANN_PHONE = "+12015550123"


def _sms(body: str, sid: str = "SM" + "a" * 32, sender: str = ANN_PHONE) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "7" * 32,
        "From": sender,
        "To": "+12025550100",
        "Body": body,
        "NumMedia": "0",
    }


async def _post(env: ApiEnv, url: str, form: dict[str, str], signature: str | None) -> int:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    async with await env.client(None) as c:
        response = await c.post(url.removeprefix(BASE), data=form, headers=headers)
    return response.status_code


async def _declare(env: ApiEnv, title: str = "Outage") -> int:
    async with await env.client("ops") as c:
        response = await c.post(
            "/api/incidents",
            json={"title": title, "severity": "major", "affects": ["satellite-radio"]},
        )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _drain(env: ApiEnv) -> None:
    await Worker(env.app).run_until_idle(max_wait=60)


async def _count(env: ApiEnv, query: object) -> int:
    async with env.app.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def test_a_signed_stop_opts_out_and_the_next_sms_is_suppressed(env: ApiEnv) -> None:
    await env.load_customers()
    form = _sms("  stop ")
    assert await _post(env, INBOUND, form, sign(INBOUND, form)) == 200
    await _declare(env)
    await _drain(env)
    assert ANN_PHONE not in {m.to for m in env.twilio.messages}
    async with await env.client("viewer") as c:
        timeline = (await c.get("/api/customers/c-en/timeline")).json()
    sms = [e for e in timeline["entries"] if e["channel"] == "sms"]
    assert [(e["status"], e["reason"]) for e in sms] == [("suppressed", "opted out of sms")]
    assert [r["kind"] for r in timeline["replies"]] == ["stop"]
    # Ann's email still goes: STOP is about texts.
    assert "ann@example.com" in {r for m in env.sink.messages for r in m.rcpt_tos}

    # START opts her back in.
    form = _sms("Start", sid="SM" + "b" * 32)
    assert await _post(env, INBOUND, form, sign(INBOUND, form)) == 200
    assert (
        await _count(
            env, select(func.count()).select_from(opt_outs).where(opt_outs.c.customer_id == "c-en")
        )
        == 0
    )


async def test_unsigned_or_tampered_webhooks_are_refused_and_change_nothing(
    sqlite_env: ApiEnv,
) -> None:
    env = sqlite_env
    await env.load_customers()
    form = _sms("STOP")
    good = sign(INBOUND, form)
    tampered = {**form, "From": "+33612345678"}
    assert await _post(env, INBOUND, form, None) == 403
    assert await _post(env, INBOUND, tampered, good) == 403
    assert await _post(env, INBOUND, form, sign(INBOUND, form, token="not-the-token")) == 403
    # Signed for another URL (the request's own, not the public one).
    assert (
        await _post(env, INBOUND, form, sign("http://internal:8000/webhooks/twilio/inbound", form))
        == 403
    )
    callback = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered"}
    assert await _post(env, STATUS, callback, None) == 403
    assert await _count(env, select(func.count()).select_from(opt_outs)) == 1  # c-nosms's
    assert await _count(env, select(func.count()).select_from(inbound_messages)) == 0
    assert await _count(env, select(func.count()).select_from(delivery_events)) == 0


async def test_help_is_answered_and_a_reply_goes_to_support_once(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    form = _sms("help")
    async with await env.client(None) as c:
        response = await c.post(
            "/webhooks/twilio/inbound",
            data=form,
            headers={"X-Twilio-Signature": sign(INBOUND, form)},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Message>" in response.text and "STOP" in response.text

    reply = _sms("Is it <fixed> yet?", sid="SM" + "d" * 32)
    for _ in range(2):  # Twilio retrying the webhook: recorded and forwarded once
        assert await _post(env, INBOUND, reply, sign(INBOUND, reply)) == 200
    assert await _count(env, select(func.count()).select_from(inbound_messages)) == 2
    await _drain(env)
    (mail,) = [m for m in env.sink.messages if "support@example.com" in m.rcpt_tos]
    assert "Ann Lee" in str(mail.message["Subject"])
    body = mail.message.get_body(("plain",))
    assert body is not None and "Is it <fixed> yet?" in body.get_content()
    assert mail.message["List-Unsubscribe"] is None


async def test_status_callbacks_mark_delivered_and_failed_and_never_go_back(env: ApiEnv) -> None:
    await env.load_customers()
    await _declare(env)
    await _drain(env)
    sids = {m.to: m.sid for m in env.twilio.messages}
    assert all(m.status_callback == STATUS for m in env.twilio.messages)

    async def callback(sid: str, status: str, code: str | None = None) -> None:
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "7" * 32}
        if code:
            form["ErrorCode"] = code
        assert await _post(env, STATUS, form, sign(STATUS, form)) == 204

    await callback(sids[ANN_PHONE], "delivered")
    await callback(sids[ANN_PHONE], "sent")  # late and out of order: ignored
    await callback(sids["+33612345678"], "undelivered", "30003")
    async with env.app.engine.connect() as conn:
        rows = {
            r.recipient: r
            for r in (
                await conn.execute(
                    select(
                        outbox.c.recipient, outbox.c.status, outbox.c.reason, outbox.c.error_code
                    ).where(outbox.c.channel == "sms", outbox.c.status != "suppressed")
                )
            ).all()
        }
    assert rows[ANN_PHONE].status == "delivered"
    failed = rows["+33612345678"]
    assert (failed.status, failed.error_code) == ("failed", "30003")
    assert "unreachable handset" in failed.reason
    assert rows["+33698765432"].status == "sent"
    async with await env.client("viewer") as c:
        deliveries = (await c.get("/api/deliveries", params={"status": "delivered"})).json()
        (one,) = deliveries["deliveries"]
        detail = (await c.get(f"/api/deliveries/{one['id']}")).json()
    assert [e["status"] for e in detail["events"]] == ["delivered", "sent"]


async def _callback(env: ApiEnv, sid: str, status: str, code: str | None = None) -> None:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "7" * 32}
    if code:
        form["ErrorCode"] = code
    assert await _post(env, STATUS, form, sign(STATUS, form)) == 204


async def _sms_rows(env: ApiEnv) -> dict[str, Any]:
    async with env.app.engine.connect() as conn:
        found = await conn.execute(
            select(outbox).where(outbox.c.channel == "sms", outbox.c.status != "suppressed")
        )
        return {r.recipient: r for r in found.all()}


async def test_a_queue_overflow_at_twilio_is_sent_again_unless_stale(env: ApiEnv) -> None:
    """30001 (Twilio's queue for the sender overflowed) means it never left: the message
    goes again after a pause, not failed; unless its incident was resolved meanwhile."""
    await env.load_customers()
    incident = await _declare(env)
    await _drain(env)
    sids = {m.to: m.sid for m in env.twilio.messages}
    await _callback(env, sids[ANN_PHONE], "failed", "30001")
    row = (await _sms_rows(env))[ANN_PHONE]
    assert (row.status, row.error_code, row.provider_id) == ("pending", "30001", None)
    assert "queue overflow" in row.reason and "sent again" in row.reason
    assert row.next_attempt_at.replace(tzinfo=UTC) == env.clock.now() + REQUEUE_AFTER

    # Once more (when its time comes), with a provider id of its own.
    await _drain(env)
    assert [m.to for m in env.twilio.messages].count(ANN_PHONE) == 2
    again = (await _sms_rows(env))[ANN_PHONE]
    assert again.status == "sent" and again.provider_id not in (None, sids[ANN_PHONE])
    # A late callback about the dropped send changes nothing now.
    await _callback(env, sids[ANN_PHONE], "failed", "30001")
    assert (await _sms_rows(env))[ANN_PHONE].status == "sent"

    # Resolved in the meantime: the dropped declaration is stale news, not sent again.
    async with await env.client("ops") as c:
        resolved = await c.post(f"/api/incidents/{incident}/resolve", json={"cause": "Fixed"})
    assert resolved.status_code == 200, resolved.text
    await _callback(env, sids["+33698765432"], "undelivered", "30001")
    stale = (await _sms_rows(env))["+33698765432"]
    assert stale.subject_id == str(incident) and stale.status == "superseded", stale.status
    assert "resolved since" in stale.reason


async def test_a_callback_that_overtakes_the_send_is_applied_later(sqlite_env: ApiEnv) -> None:
    """Twilio may call back before the dispatcher has recorded the provider id."""
    env = sqlite_env
    early = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "delivered"}
    assert await _post(env, STATUS, early, sign(STATUS, early)) == 204
    await env.load_customers()
    await _declare(env)
    await _drain(env)
    async with env.app.engine.begin() as conn:
        first = (
            (
                await conn.execute(
                    select(outbox.c.id).where(outbox.c.channel == "sms", outbox.c.status == "sent")
                )
            )
            .scalars()
            .first()
        )
        await conn.execute(
            outbox.update().where(outbox.c.id == first).values(provider_id="SM" + "e" * 32)
        )
    other = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "queued"}
    assert await _post(env, STATUS, other, sign(STATUS, other)) == 204
    async with env.app.engine.connect() as conn:
        status = await conn.scalar(select(outbox.c.status).where(outbox.c.id == first))
    assert status == "delivered"


async def test_a_whatsapp_stop_opts_out_of_whatsapp_only(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    form = {**_sms("STOP", sid="SM" + "e" * 32, sender=f"whatsapp:{ANN_PHONE}")}
    form["To"] = "whatsapp:+14155238886"
    assert await _post(env, INBOUND, form, sign(INBOUND, form)) == 200
    async with env.app.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(opt_outs.c.channel, opt_outs.c.reason).where(
                    opt_outs.c.customer_id == "c-en"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("whatsapp", "replied STOP by WhatsApp")]
    async with await env.client("viewer") as c:
        timeline = (await c.get("/api/customers/c-en/timeline")).json()
    assert [(r["kind"], r["from_number"]) for r in timeline["replies"]] == [
        ("stop", f"whatsapp:{ANN_PHONE}")
    ]

    # START on WhatsApp lifts it again.
    form = {**form, "MessageSid": "SM" + "f" * 32, "Body": "start"}
    assert await _post(env, INBOUND, form, sign(INBOUND, form)) == 200
    assert (
        await _count(
            env, select(func.count()).select_from(opt_outs).where(opt_outs.c.customer_id == "c-en")
        )
        == 0
    )


async def test_a_sender_of_no_channel_is_refused_naming_from(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    form = _sms("STOP", sender=f"fax:{ANN_PHONE}")
    async with await env.client(None) as c:
        response = await c.post(
            "/webhooks/twilio/inbound",
            data=form,
            headers={"X-Twilio-Signature": sign(INBOUND, form)},
        )
    assert response.status_code == 422, response.text
    assert "From" in response.text and "fax:" in response.text
    assert await _count(env, select(func.count()).select_from(inbound_messages)) == 0
    assert await _count(env, select(func.count()).select_from(opt_outs)) == 1  # c-nosms's
