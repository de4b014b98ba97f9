"""The XM story driven entirely over HTTP: `notifier serve` (uvicorn, worker in process)
against the real SMTP sink and Twilio stand-in; then the report's numbers are checked
against what the peers received and the contacts posted."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import uvicorn

from notifier.api import create_app
from notifier.runtime.app import App
from notifier.services.apikeys import create_key
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from tests.api.conftest import _csv_records, api_settings, sign
from tests.harness import CUSTOMERS_CSV, SID, TOKEN, settings_for
from tests.waiting import wait_for

AFFECTED_EMAILS = {
    "ann@example.com",
    "zoe@example.fr",
    "elodie@example.fr",
    "ben@example.com",
    "cara@example.com",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _served(app: App, port: int) -> AsyncIterator[None]:
    config = uvicorn.Config(
        create_app(app, run_worker=True),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or task.done(), what="uvicorn to start")
        assert not task.done(), "the server stopped during startup"
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def _settled(viewer: httpx.AsyncClient, incident_id: int) -> dict[str, Any]:
    """The report once the dispatcher has recorded every send (the peers see a message
    just before the dispatcher writes down that it went)."""

    async def report() -> dict[str, Any] | None:
        got: dict[str, Any] = (await viewer.get(f"/api/incidents/{incident_id}/report")).json()
        return got if sum(c["waiting"] for c in got["channels"].values()) == 0 else None

    return await wait_for(report, what="every send of the incident recorded in its report")


async def test_the_xm_story_over_http(db_url: str) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpSink() as sink:
        async with TwilioStandin(account_sid=SID, auth_token=TOKEN) as twilio:
            settings = settings_for(db_url, sink, twilio, scheduler={"poll_interval": 0.05})
            app = await App.open(api_settings(settings, public_base_url=base))
            try:
                keys = {
                    role: (await create_key(app.engine, name=role, role=role, now=app.clock.now()))[
                        1
                    ]
                    for role in ("ops", "support", "viewer")
                }
                async with _served(app, port):
                    await _story(base, keys, sink, twilio)
            finally:
                await app.close()


async def _story(base: str, keys: dict[str, str], sink: SmtpSink, twilio: TwilioStandin) -> None:
    def client(role: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {keys[role]}"})

    def emails() -> list[str]:
        return [r for m in sink.messages for r in m.rcpt_tos]

    async with client("support") as support, client("ops") as ops, client("viewer") as viewer:
        imported = await support.post(
            "/api/customers/import", json={"customers": _csv_records(CUSTOMERS_CSV)}
        )
        assert imported.json()["created"] == 6

        # Evening: declare.
        now = datetime.now().astimezone()
        declared = await ops.post(
            "/api/incidents",
            json={
                "title": "Satellite radio signal outage",
                "severity": "major",
                "affects": ["satellite-radio"],
                "eta": (now + timedelta(hours=18)).isoformat(),
                "message": "Your radio is not broken.",
            },
        )
        assert declared.status_code == 201, declared.text
        incident = declared.json()
        declared_at = datetime.fromisoformat(incident["declared_at"])
        await wait_for(
            lambda: len(sink.messages) == 5 and len(twilio.messages) == 3, what="first wave"
        )
        assert sorted(emails()) == sorted(AFFECTED_EMAILS)
        await _settled(viewer, incident["id"])
        first_wave_recorded = datetime.now().astimezone()

        # A customer called before her message went out; another after his; one unaffected.
        for customer, at in (
            ("c-nosms", declared_at),
            ("c-en", datetime.now().astimezone()),
            ("c-other", datetime.now().astimezone()),
        ):
            contact = {"customer_id": customer, "channel": "phone", "at": at.isoformat()}
            assert (await support.post("/api/contacts", json=contact)).status_code == 201

        # Twilio calls back: Ann's text arrived, Zoé's did not; Élodie replies STOP.
        sids = {m.to: m.sid for m in twilio.messages}
        async with httpx.AsyncClient(base_url=base) as twilio_side:
            for to, status, code in (
                ("+12015550123", "delivered", None),
                ("+33612345678", "undelivered", "30003"),
            ):
                form = {"MessageSid": sids[to], "MessageStatus": status}
                form |= {"ErrorCode": code} if code else {}
                url = f"{base}/webhooks/twilio/status"
                signed = {"X-Twilio-Signature": sign(url, form)}
                response = await twilio_side.post(url, data=form, headers=signed)
                assert response.status_code == 204
            stop = {"MessageSid": "SM" + "5" * 32, "From": "+33698765432", "Body": "STOP"}
            url = f"{base}/webhooks/twilio/inbound"
            response = await twilio_side.post(
                url, data=stop, headers={"X-Twilio-Signature": sign(url, stop)}
            )
            assert response.status_code == 200

        # Next morning: the ETA slips; then it is resolved.
        updated = await ops.post(
            f"/api/incidents/{incident['id']}/updates",
            json={
                "status": "identified",
                "eta": (now + timedelta(hours=25)).isoformat(),
                "workaround": "Online streaming works for every station.",
                "message": "The repair will take 6 to 8 hours longer.",
            },
        )
        assert updated.status_code == 200, updated.text
        await wait_for(
            lambda: len(sink.messages) == 10 and len(twilio.messages) == 5, what="the update"
        )
        resolved = await ops.post(
            f"/api/incidents/{incident['id']}/resolve",
            json={"cause": "A faulty software update", "message": "Leave your radio outdoors."},
        )
        assert resolved.status_code == 200
        await wait_for(
            lambda: len(sink.messages) == 15 and len(twilio.messages) == 7, what="resolution"
        )
        assert "+33698765432" not in {m.to for m in twilio.messages[3:]}  # she said STOP

        report = await _settled(viewer, incident["id"])
        metrics = (await viewer.get("/metrics")).text

    # The report against what the peers received and the contacts posted.
    assert report["affected"] == 5
    email, sms = report["channels"]["email"], report["channels"]["sms"]
    assert email["sent"] == len(sink.messages) == 15
    assert email["planned"] == 15 and email["suppressed"] == 0 and email["failed"] == 0
    assert sms["sent"] == len(twilio.messages) == 7
    assert (sms["delivered"], sms["failed"]) == (1, 1)
    assert list(sms["failed_by_reason"].values()) == [1]
    assert "30003" in next(iter(sms["failed_by_reason"]))
    # Ben declined SMS (3 messages), Cara has no phone (3), Élodie said STOP (the last 2).
    assert sms["suppressed_by_reason"] == {"no phone number": 3, "opted out of sms": 5}
    first = report["first_message"]
    assert first["customers_told"] == 5
    # Within what was seen: the last customer first told no later than the first wave's
    # sends were all recorded (a figure of speed is the benchmark's business, not this test's).
    longest = (first_wave_recorded - declared_at).total_seconds()
    assert 0 <= first["p50_seconds"] <= first["p95_seconds"] <= first["p100_seconds"] <= longest
    assert report["contacts"] == {
        "window_end": report["contacts"]["window_end"],
        "customers_who_contacted": 2,
        "told_before_they_called": 1,
        "told_before_percent": 50.0,
    }
    assert 'notifier_messages{channel="email",status="sent"} 15.0' in metrics
