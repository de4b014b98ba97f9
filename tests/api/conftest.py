"""An app with the HTTP API in front, wired to the real SMTP sink and Twilio stand-in.

`api_env` builds it on a fresh database (SQLite and PostgreSQL, through `db_url`) with a
virtual clock; `env.client(role)` is an httpx client over ASGI carrying a key of that role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from notifier.api import create_app
from notifier.clock import Clock, VirtualClock
from notifier.config import ApiSettings, Settings
from notifier.runtime.app import App
from notifier.services.apikeys import create_key
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from tests.harness import CUSTOMERS_CSV, SID, START, TOKEN, settings_for

BASE = "https://notify.example.com"
SECRET = "s" * 48


@dataclass
class ApiEnv:
    app: App
    api: FastAPI
    clock: Clock
    sink: SmtpSink
    twilio: TwilioStandin
    keys: dict[str, str] = field(default_factory=dict)

    async def key(self, role: str) -> str:
        if role not in self.keys:
            _, self.keys[role] = await create_key(
                self.app.engine, name=f"test {role}", role=role, now=self.app.clock.now()
            )
        return self.keys[role]

    async def client(self, role: str | None = "admin") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {await self.key(role)}"} if role else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(self.api), base_url=BASE, headers=headers
        )

    async def load_customers(self, csv_text: str = CUSTOMERS_CSV) -> None:
        rows = _csv_records(csv_text)
        async with await self.client("support") as c:
            response = await c.post("/api/customers/import", json={"customers": rows})
        assert response.status_code == 200, response.text
        assert response.json()["errors"] == []


def _csv_records(csv_text: str) -> list[dict[str, Any]]:
    lines = csv_text.strip().splitlines()
    header = lines[0].split(",")
    records = []
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        record: dict[str, Any] = {k: v for k, v in row.items() if v and k not in ("services",)}
        record["services"] = row["services"].split(";")
        record["opt_out"] = [c for c in row.get("opt_out", "").split(";") if c]
        records.append(record)
    return records


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send."""
    return str(RequestValidator(token).compute_signature(url, params))


def api_settings(settings: Settings, **api: Any) -> Settings:
    values = {
        "public_base_url": BASE,
        "unsubscribe_secret": SECRET,
        "support_email": "support@example.com",
        **api,
    }
    return settings.model_copy(update={"api": ApiSettings(**values)})


@asynccontextmanager
async def api_environment(
    db_url: str, *, clock: Clock | None = None, **api: Any
) -> AsyncIterator[ApiEnv]:
    sink = SmtpSink()
    twilio = TwilioStandin(account_sid=SID, auth_token=TOKEN)
    sink.start()
    await twilio.start()
    clock = clock or VirtualClock(START)
    settings = api_settings(settings_for(db_url, sink, twilio), **api)
    app = await App.open(settings, clock=clock)
    try:
        yield ApiEnv(app, create_app(app, run_worker=False), clock, sink, twilio)
    finally:
        await app.close()
        await twilio.stop()
        sink.stop()


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[ApiEnv]:
    async with api_environment(db_url) as environment:
        yield environment


@pytest.fixture
async def sqlite_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    """For tests of the HTTP layer alone: one store is enough."""
    async with api_environment(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as environment:
        yield environment
