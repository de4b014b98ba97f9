"""Visitors subscribe themselves from the status page: nothing but the confirmation goes to
an address before it is confirmed; once confirmed (a link by email, a code by SMS) a
declared incident reaches them; they change or cancel without support. Abuse: cross-site
forms, oversized forms, too many posts from one client, too many confirmations to one
address, forged tokens, and no way to learn whether an address is subscribed."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import httpx

from notifier.runtime.simulation import advance_to
from notifier.runtime.worker import Worker
from notifier.web import status_subscribe
from tests.api.conftest import BASE, ApiEnv

ORIGIN = {"Origin": BASE}
ANN = "ann@example.com"


async def _drain(env: ApiEnv) -> None:
    worker = Worker(env.app)
    try:
        await advance_to(worker, env.clock, env.clock.now() + timedelta(minutes=1))  # type: ignore[arg-type]
    finally:
        await worker.close()


def _mail_to(env: ApiEnv, address: str) -> list[EmailMessage]:
    return [m.message for m in env.sink.messages if address in m.rcpt_tos]


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


async def _subscribe(public: httpx.AsyncClient, channel: str, address: str) -> httpx.Response:
    return await public.post(
        "/status/subscribe",
        data={"channel": channel, "address": address, "services": ["satellite-radio"]},
        headers=ORIGIN,
    )


async def _declare(env: ApiEnv, title: str) -> None:
    async with await env.client("ops") as ops:
        body = {"title": title, "severity": "major", "affects": ["satellite-radio"]}
        assert (await ops.post("/api/incidents", json=body)).status_code == 201


async def test_subscribe_by_email_confirm_hear_of_an_incident_then_cancel(
    status_env: ApiEnv,
) -> None:
    env = status_env
    async with await env.client(None) as public:
        form = await public.get("/status/subscribe")
        assert form.status_code == 200 and "Satellite radio" in form.text
        answer = await _subscribe(public, "email", ANN)
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        await _declare(env, "Before confirming")
        await _drain(env)
        (confirmation,) = _mail_to(env, ANN)  # only the confirmation, not the incident
        link = re.search(r"https://\S+/status/subscribe/confirm/\S+", _text(confirmation))
        assert link is not None
        path = link.group().removeprefix(BASE)
        page = await public.get(path)  # a scanner following the link confirms nothing
        assert page.status_code == 200 and "Confirm" in page.text
        confirmed = await public.post(path, headers=ORIGIN)
        assert confirmed.status_code == 303
        manage = confirmed.headers["location"].split("?")[0]
        assert manage.startswith("/status/subscription/")

        await _declare(env, "After confirming")
        await _drain(env)
        subjects = [str(m["Subject"]) for m in _mail_to(env, ANN)]
        assert len(subjects) == 2 and "After confirming" in subjects[1]

        shown = await public.get(manage)
        assert shown.status_code == 200 and ANN in shown.text
        cancelled = await public.post(manage, data={"action": "cancel"}, headers=ORIGIN)
        assert "cancelled" in cancelled.text
        await _declare(env, "After cancelling")
        await _drain(env)
        assert len(_mail_to(env, ANN)) == 2


async def test_subscribe_by_sms_with_a_code(status_env: ApiEnv) -> None:
    env = status_env
    phone = "+12015550177"
    async with await env.client(None) as public:
        answer = await _subscribe(public, "sms", "(201) 555-0177")
        assert answer.status_code == 303
        verify = answer.headers["location"].split("?")[0]
        await _drain(env)
        (sms,) = [m for m in env.twilio.messages if m.to == phone]
        code = re.search(r"\b(\d{6})\b", sms.body)
        assert code is not None
        wrong = "000000" if code.group(1) != "000000" else "111111"
        refused = await public.post(verify, data={"code": wrong}, headers=ORIGIN)
        assert refused.status_code == 422 and "not the code" in refused.text
        accepted = await public.post(verify, data={"code": code.group(1)}, headers=ORIGIN)
        assert accepted.status_code == 303
        await _declare(env, "Signal lost")
        await _drain(env)
        assert len([m for m in env.twilio.messages if m.to == phone]) == 2


async def test_no_way_to_learn_whether_an_address_is_subscribed(status_env: ApiEnv) -> None:
    env = status_env
    async with await env.client(None) as public:
        first = await _subscribe(public, "email", ANN)
        await _drain(env)
        link = re.search(r"/status/subscribe/confirm/\S+", _text(_mail_to(env, ANN)[0]))
        assert link is not None
        await public.post(link.group(), headers=ORIGIN)
        again = await _subscribe(public, "email", ANN)
        stranger = await _subscribe(public, "email", "nobody@example.com")
    assert first.text == again.text and again.status_code == stranger.status_code == 200
    assert stranger.text.replace("nobody@example.com", ANN) == again.text
    await _drain(env)
    # The subscriber gets a manage link, not a second confirmation.
    assert "/status/subscription/" in _text(_mail_to(env, ANN)[1])


async def test_abuse_is_refused(status_env: ApiEnv) -> None:
    env = status_env
    async with await env.client(None) as public:
        for _ in range(5):
            assert (await _subscribe(public, "email", ANN)).status_code == 200
        await _drain(env)
        assert len(_mail_to(env, ANN)) == 3  # at most 3 confirmations a day to one address

        cross = await public.post(
            "/status/subscribe",
            data={"channel": "email", "address": ANN, "services": ["satellite-radio"]},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        huge = await public.post(
            "/status/subscribe", data={"address": "x" * 10_000}, headers=ORIGIN
        )
        assert huge.status_code == 413
        for path in ("/status/subscription/1.99999999999.forged", "/status/subscription/x"):
            assert (await public.get(path)).status_code == 404
        bad = await public.post(
            "/status/subscribe",
            data={"channel": "email", "address": "not an address", "services": ["tv"]},
            headers=ORIGIN,
        )
        assert bad.status_code == 422 and "address" in bad.text

        env.api.state.subscribe_limits = status_subscribe.ClientLimit(2, 3600)
        codes = [
            (await _subscribe(public, "email", f"x{i}@example.com")).status_code for i in range(3)
        ]
        assert codes == [200, 200, 429]
