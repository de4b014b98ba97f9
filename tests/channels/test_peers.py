"""The local peers themselves: the Twilio stand-in over plain HTTP, the SMTP sink as a
separate process (as the benchmarks run it)."""

from __future__ import annotations

import asyncio
import base64
import sys

import aiohttp
import aiosmtplib
import pytest

from notifier.sinks import TwilioStandin
from notifier.sinks.smtp_sink import free_port
from notifier.sinks.twilio_standin import count_segments
from tests.waiting import GENEROUS


def _auth(sid: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()}


async def test_stand_in_speaks_twilios_shapes(twilio_standin: TwilioStandin) -> None:
    sid, url = twilio_standin.account_sid, twilio_standin.base_url
    endpoint = f"{url}/2010-04-01/Accounts/{sid}/Messages.json"
    form = {"To": "+15551234567", "From": "+15005550006", "Body": "Panne ⚡ réparée"}
    async with aiohttp.ClientSession() as http:
        async with http.post(endpoint, data=form, headers=_auth(sid, "change-me")) as created:
            assert created.status == 201
            resource = await created.json()
        async with http.post(endpoint, data=form, headers=_auth(sid, "nope")) as denied:
            assert denied.status == 401
            assert (await denied.json())["code"] == 20003
        other = f"{url}/2010-04-01/Accounts/AC{'9' * 32}/Messages.json"
        async with http.post(other, data=form, headers=_auth(sid, "change-me")) as missing:
            assert missing.status == 404
        bad = {**form, "To": "555"}
        async with http.post(endpoint, data=bad, headers=_auth(sid, "change-me")) as invalid:
            error = await invalid.json()
    assert resource["sid"].startswith("SM") and len(resource["sid"]) == 34
    assert resource["status"] == "queued"
    assert resource["num_segments"] == "1"
    assert resource["error_code"] is None
    assert (resource["to"], resource["from"], resource["body"]) == tuple(form.values())
    assert resource["uri"] == f"/2010-04-01/Accounts/{sid}/Messages/{resource['sid']}.json"
    assert error == {
        "code": 21211,
        "message": "The 'To' number 555 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    assert twilio_standin.requests == 4 and len(twilio_standin.messages) == 1


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters cost two septets
        ("{" * 81, 2),
        ("é" * 160, 1),  # é is in GSM-7
        ("ê" * 70, 1),  # ê is not: UCS-2
        ("ê" * 71, 2),
        ("😀" * 35, 1),  # an emoji is two UCS-2 units
        ("😀" * 36, 2),
    ],
)
def test_segment_count(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_fail_number_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError, match="unknown error code"):
        TwilioStandin().fail_number("+15551234567", code=12345)


async def test_smtp_sink_runs_as_a_separate_process() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier.sinks.smtp_sink",
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(GENEROUS):
            assert b"listening" in await process.stdout.readline()
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="t") as smtp:
                for _ in range(3):
                    await smtp.sendmail(
                        "a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nhi\r\n"
                    )
            line = b""
            while b"received=3" not in line:
                line = await process.stdout.readline()
        assert b"received=3 connections=1" in line
    finally:
        process.terminate()
        await process.wait()
