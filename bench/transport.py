"""The transport limit, measured against the same peers as notifier: the libraries alone.

- email: aiosmtplib over `width` reused connections, each message's bytes built directly
  (notifier.channels.email_bytes, the builder notifier itself uses), nothing else;
- SMS: the twilio client's async path, `width` requests in flight;
- apprise sending the same email, one `notify()` per customer, its throttle turned off.

The content is the shipped `incident_declared` template rendered once, so every message
has the size notifier's messages have.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, TCPConnector
from aiosmtplib import SMTP
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bench.peers import Peer, PeerStats
from notifier.channels.email_bytes import build_email
from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.sinks.twilio_standin import DEFAULT_SID, DEFAULT_TOKEN
from notifier.templating.catalog import TemplateCatalog

ROOT = Path(__file__).resolve().parent.parent
FROM_ADDRESS = "status@example.com"
FROM_NUMBER = "+15005550006"
TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True)
class Sample:
    email: RenderedMessage
    sms: RenderedMessage


def sample_messages() -> Sample:
    catalog = TemplateCatalog.from_directory(ROOT / "templates")
    now = datetime.now(UTC)
    customer = Customer("c0000001", "Ann Lee", "c1@example.com", "+15550000001", "en", "UTC")
    context: dict[str, Any] = {
        "event": {},
        "company": {"name": "Example Co", "support_url": "https://example.com/support"},
        "now": now,
        "incident": {
            "title": "Satellite radio signal outage",
            "severity": "major",
            "eta": now + timedelta(hours=2),
            "message": "Our satellites stopped broadcasting after a ground-station fault.",
            "workaround": None,
            "is_open": True,
        },
        "update": None,
        "order": None,
        "customer": customer.as_context(),
    }
    return Sample(
        email=catalog.render("incident_declared", ChannelName.EMAIL, "en", context),
        sms=catalog.render("incident_declared", ChannelName.SMS, "en", context),
    )


@dataclass(frozen=True)
class Rate:
    messages: int
    seconds: float
    peer: PeerStats
    cpu_seconds: float = 0.0  # of this (the sending) process: the client's own cost

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


async def smtp_direct(peer: Peer, sample: Sample, count: int, width: int, tag: str) -> Rate:
    """aiosmtplib, `width` connections, bytes built directly per message."""
    assert sample.email.subject is not None
    subject, text, html = sample.email.subject, sample.email.text, sample.email.html
    todo = iter(range(count))
    sent = 0

    async def connection() -> None:
        nonlocal sent
        smtp = SMTP(
            hostname="127.0.0.1", port=peer.port, start_tls=False, local_hostname="bench.local"
        )
        await smtp.connect()
        try:
            for i in todo:
                to = f"limit{i}@example.com"
                data = build_email(
                    from_address=FROM_ADDRESS,
                    from_name="Example Co",
                    to=to,
                    subject=subject,
                    text=text,
                    html=html,
                    message_id=f"<{tag}.{i}@bench.local>",
                    date=datetime.now(UTC),
                )
                await smtp.sendmail(FROM_ADDRESS, [to], data)
                sent += 1
        finally:
            await smtp.quit()

    start, cpu = time.time(), time.process_time()
    await asyncio.gather(*(connection() for _ in range(width)))
    return Rate(sent, time.time() - start, peer.stats(start), time.process_time() - cpu)


class _Redirect(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """The twilio async HTTP client, sent to the stand-in instead of api.twilio.com."""

    def __init__(self, base_url: str, width: int) -> None:
        super().__init__(pool_connections=False)
        self.session = ClientSession(connector=TCPConnector(limit=width))
        self.base_url = base_url

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return await super().request(
            method, self.base_url + url.removeprefix(TWILIO_API), *args, **kwargs
        )


async def twilio_direct(peer: Peer, sample: Sample, count: int, width: int) -> Rate:
    """The twilio client's async path, `width` requests in flight."""
    http = _Redirect(peer.base_url, width)
    client = Client(
        DEFAULT_SID,
        DEFAULT_TOKEN,
        http_client=http,
        environment={"BENCH": "no TWILIO_* from the environment"},
    )
    todo = iter(range(count))
    sent = 0

    async def lane() -> None:
        nonlocal sent
        for i in todo:
            await client.messages.create_async(
                to=f"+1666{i:07d}", from_=FROM_NUMBER, body=sample.sms.text
            )
            sent += 1

    start, cpu = time.time(), time.process_time()
    try:
        await asyncio.gather(*(lane() for _ in range(width)))
    finally:
        await http.close()
    return Rate(sent, time.time() - start, peer.stats(start), time.process_time() - cpu)


def apprise_email(peer: Peer, sample: Sample, count: int) -> Rate | str:
    """apprise's email plugin, one notify() per message, throttle off; or why it cannot run."""
    try:
        import apprise  # type: ignore[import-not-found,unused-ignore]  # optional: the bench extra
    except ImportError:
        return "apprise is not installed (pip install -e '.[bench]')"
    notifiers = []
    for i in range(count):
        one = apprise.Apprise()
        url = (
            f"mailto://127.0.0.1:{peer.port}?mode=insecure&from={FROM_ADDRESS}"
            f"&to=apprise{i}@example.com"
        )
        if not one.add(url):
            return f"apprise refused the URL {url}"
        for plugin in one:
            plugin.request_rate_per_sec = 0  # the throttle off
        notifiers.append(one)
    start = time.time()
    sent = sum(
        bool(one.notify(title=sample.email.subject or "", body=sample.email.text))
        for one in notifiers
    )
    return Rate(sent, time.time() - start, peer.stats(start))
