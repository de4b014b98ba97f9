"""RFC 8058 one-click unsubscribe and the preference page, with signed tokens."""

from __future__ import annotations

import re

import pytest

from notifier.domain.messages import ChannelName
from notifier.runtime.worker import Worker
from notifier.services.unsubscribe import InvalidToken, make_token, read_token
from tests.api.conftest import BASE, SECRET, ApiEnv

LINK = re.compile(r"^<(https://notify\.example\.com/u/([A-Za-z0-9_.-]+))>$")


async def _declare(env: ApiEnv, severity: str = "major") -> None:
    async with await env.client("ops") as c:
        response = await c.post(
            "/api/incidents",
            json={"title": "Outage", "severity": severity, "affects": ["satellite-radio"]},
        )
    assert response.status_code == 201, response.text
    await Worker(env.app).run_until_idle(max_wait=60)


def _mail_to(env: ApiEnv, address: str) -> list[object]:
    return [m.message for m in env.sink.messages if address in m.rcpt_tos]


async def test_one_click_unsubscribes_from_incident_emails(env: ApiEnv) -> None:
    await env.load_customers()
    await _declare(env)
    (mail,) = _mail_to(env, "ann@example.com")
    header = mail["List-Unsubscribe"]  # type: ignore[index]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # type: ignore[index]
    match = LINK.match(str(header))
    assert match is not None, header
    path = match[1].removeprefix(BASE)
    async with await env.client(None) as c:
        page = await c.get(path)  # GET only asks: it changes nothing
        assert page.status_code == 200 and "Unsubscribe" in page.text
        response = await c.post(path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and "no longer receive" in response.text
        again = await c.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert again.status_code == 200  # idempotent
    async with await env.client("viewer") as c:
        ann = (await c.get("/api/customers/c-en")).json()
    assert ann["opt_outs"] == [{"channel": "email", "category": "incidents"}]

    env.sink.messages.clear()
    env.twilio.messages.clear()
    await _declare(env)
    assert _mail_to(env, "ann@example.com") == []
    assert "+12015550123" in {m.to for m in env.twilio.messages}  # SMS still goes
    assert _mail_to(env, "zoe@example.fr") != []


async def test_a_forged_or_altered_token_is_refused(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    good = make_token(SECRET, "c-en", "incidents", ChannelName.EMAIL)
    payload, mac = good.split(".")
    forged = make_token("another secret entirely, 32+ chars long", "c-en", "incidents", "email")
    other_customer = make_token(SECRET, "c-fr", "incidents", ChannelName.EMAIL).split(".")[0]
    altered = [
        forged,
        f"{other_customer}.{mac}",  # someone else's id with Ann's MAC
        f"{payload}.{mac[:-2]}AA",
        f"{payload}x.{mac}",
        payload,
        "not-a-token-at-all",
    ]
    async with await env.client(None) as c:
        for token in altered:
            assert (await c.post(f"/u/{token}")).status_code in (403, 422), token
            assert (await c.get(f"/u/{token}/preferences")).status_code in (403, 422), token
        assert (await c.get("/api/customers/c-en")).status_code == 401
    async with await env.client("viewer") as c:
        for cid in ("c-en", "c-fr"):
            assert (await c.get(f"/api/customers/{cid}")).json()["opt_outs"] == []
    with pytest.raises(InvalidToken):
        read_token(SECRET, forged)
    assert read_token(SECRET, good).customer_id == "c-en"


async def test_the_preference_page_sets_channels_per_category(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    token = make_token(SECRET, "c-en", "incidents", ChannelName.EMAIL)
    async with await env.client(None) as c:
        page = await c.get(f"/u/{token}/preferences")
        assert page.status_code == 200
        assert page.text.count("checked") == 6  # 2 categories x email, sms, whatsapp
        # Keep incident emails, order texts and WhatsApp only.
        keep = {"incidents_whatsapp": "on", "orders_whatsapp": "on"}
        saved = await c.post(
            f"/u/{token}/preferences",
            data={"incidents_email": "on", "orders_sms": "on", **keep},
        )
        assert saved.status_code == 200 and "Saved" in saved.text
        assert saved.text.count("checked") == 4
    async with await env.client("viewer") as c:
        opt_outs = (await c.get("/api/customers/c-en")).json()["opt_outs"]
    assert opt_outs == [
        {"channel": "email", "category": "orders"},
        {"channel": "sms", "category": "incidents"},
    ]
    async with await env.client(None) as c:  # nothing at all by SMS: one "*" opt-out
        await c.post(f"/u/{token}/preferences", data={"incidents_email": "on", **keep})
    async with await env.client("viewer") as c:
        opt_outs = (await c.get("/api/customers/c-en")).json()["opt_outs"]
    assert {"channel": "sms", "category": "*"} in opt_outs
    assert {"channel": "email", "category": "incidents"} not in opt_outs


async def test_critical_news_has_no_unsubscribe_link_and_sms_ask_for_callbacks(
    sqlite_env: ApiEnv,
) -> None:
    env = sqlite_env
    await env.load_customers()
    await _declare(env, severity="critical")
    mails = _mail_to(env, "ann@example.com")
    assert mails and all(m["List-Unsubscribe"] is None for m in mails)  # type: ignore[index]
    assert {m.status_callback for m in env.twilio.messages} == {f"{BASE}/webhooks/twilio/status"}
