"""Three `notifier worker` processes on one PostgreSQL database fan one incident out to a
few thousand customers, through the real SMTP sink and Twilio stand-in: every message
reaches the peers exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from notifier.services import incidents
from notifier.sinks import SmtpSink, TwilioStandin
from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from notifier.store.tables import customer_services, customers, outbox
from tests.databases import postgres_database
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 1500
WORKERS = 3
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def peers() -> Iterator[tuple[SmtpSink, TwilioStandin]]:
    with SmtpSink() as sink, TwilioStandin() as standin:
        yield sink, standin


def worker_env(url: str, sink: SmtpSink, standin: TwilioStandin) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env.update(
        NOTIFIER_DATABASE__URL=url,
        NOTIFIER_EMAIL__HOST=sink.host,
        NOTIFIER_EMAIL__PORT=str(sink.port),
        NOTIFIER_EMAIL__POOL_SIZE="4",
        NOTIFIER_EMAIL__FROM_ADDRESS="status@example.com",
        NOTIFIER_SMS__API_BASE_URL=standin.base_url,
        NOTIFIER_SMS__ACCOUNT_SID=standin.account_sid,
        NOTIFIER_SMS__AUTH_TOKEN=standin.auth_token,
        NOTIFIER_SMS__CONCURRENCY="8",
        NOTIFIER_PATHS__RULES=str(ROOT / "rules"),
        NOTIFIER_PATHS__TEMPLATES=str(ROOT / "templates"),
        # Small batches: the work is spread over the workers, not taken by the first.
        NOTIFIER_DELIVERY__BATCH_SIZE="100",
    )
    return env


async def seed(url: str) -> None:
    engine = create_engine(url)
    now = datetime.now(UTC)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                insert(customers),
                [
                    {
                        "id": f"c{i:05d}",
                        "name": f"Customer {i}",
                        "email": f"c{i}@example.com",
                        "phone": f"+1555{i:07d}",
                        "locale": ("en", "fr")[i % 2],
                        "timezone": "UTC",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(CUSTOMERS)
                ],
            )
            await conn.execute(
                insert(customer_services),
                [{"customer_id": f"c{i:05d}", "service": "radio"} for i in range(CUSTOMERS)],
            )
    finally:
        await engine.dispose()


async def test_three_workers_send_every_message_exactly_once(
    peers: tuple[SmtpSink, TwilioStandin],
) -> None:
    sink, standin = peers
    async with postgres_database() as url:
        await seed(url)
        env = worker_env(url, sink, standin)
        command = [sys.executable, "-c", "from notifier.cli import main; main()", "worker"]
        processes = [
            subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for _ in range(WORKERS)
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                line = await asyncio.to_thread(process.stdout.readline)
                assert "running" in line, line + process.communicate()[0]

            engine = create_engine(url)
            try:
                now = datetime.now(UTC)
                await incidents.declare(
                    engine,
                    title="Satellite radio signal outage",
                    severity="major",
                    affects=["radio"],
                    eta=now + timedelta(hours=2),
                    now=now,
                )
                statuses: dict[str, int] = {}

                async def all_sent() -> bool:
                    async with engine.connect() as conn:
                        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
                        statuses.clear()
                        statuses.update((await conn.execute(query)).all())
                    return (
                        sink.received >= CUSTOMERS
                        and len(standin.messages) >= CUSTOMERS
                        and statuses.get("sent", 0) >= 2 * CUSTOMERS
                    )

                await wait_for(
                    all_sent,
                    what=lambda: f"every message at the peers and sent (outbox {statuses}, "
                    f"emails {sink.received}, SMS {len(standin.messages)})",
                    interval=0.1,
                )
            finally:
                await engine.dispose()
        finally:
            outputs = []
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                outputs.append(process.communicate(timeout=60)[0])
        for process, output in zip(processes, outputs, strict=True):
            assert process.returncode == 0, output

    # Read once every worker has exited cleanly: each let its sends in flight finish, and
    # the peers note a message before they answer it, so a duplicate would be here.
    emails = Counter(m.message["Message-ID"] for m in sink.messages)
    recipients = Counter(r for m in sink.messages for r in m.rcpt_tos)
    texts = Counter(sms.to for sms in standin.messages)
    assert len(emails) == CUSTOMERS and max(emails.values()) == 1
    assert len(recipients) == CUSTOMERS and max(recipients.values()) == 1
    assert len(texts) == CUSTOMERS and max(texts.values()) == 1
    assert statuses == {"sent": 2 * CUSTOMERS}
