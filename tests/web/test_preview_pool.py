"""Slow previews never hold the server: they render in the render pool while /healthz (and
the worker sharing the event loop) go on, and one session gets only its share of the pool.

Over real sockets: `notifier serve`'s app under uvicorn, the worker in process.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from notifier.runtime.app import App
from notifier.services.apikeys import create_key
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from notifier.templating import limits
from notifier.templating.pool import PREVIEWS
from tests.api.conftest import api_settings
from tests.api.test_xm_over_http import _free_port, _served
from tests.harness import SID, TOKEN, settings_for
from tests.waiting import wait_for

# Cheap to write, costly to render: thousands of word-wraps of an 8,000-character line.
SLOW = (
    '{% set s = "x " * 4000 %}'
    "{% for i in range(3000) %}{{ (s ~ i)|wordwrap(7)|length }}{% endfor %}"
)
_CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """The base URL and a support key of a served app."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpSink() as sink:
        async with TwilioStandin(account_sid=SID, auth_token=TOKEN) as twilio:
            settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", sink, twilio)
            app = await App.open(api_settings(settings, public_base_url=base))
            try:
                _, key = await create_key(
                    app.engine, name="support", role="support", now=app.clock.now()
                )
                async with _served(app, port):
                    yield base, key
            finally:
                await app.close()


async def test_healthz_answers_while_slow_previews_are_rendering(
    served: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A longer budget than the 2 s of production: the previews are surely still rendering
    # when /healthz is asked, however slow this machine is today.
    monkeypatch.setattr(limits, "MAX_SECONDS", 6.0)
    base, key = served
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        signed = await client.post("/console/login", data={"key": key})
        assert signed.status_code == 303
        csrf = _CSRF.search((await client.get("/console/incidents")).text)
        assert csrf
        form = {"csrf": csrf.group(1), "path": "incident_declared/sms.en.j2", "source": SLOW}
        previews = [
            asyncio.create_task(client.post("/console/templates/preview", data=form))
            for _ in range(PREVIEWS.per_caller)
        ]
        await wait_for(
            lambda: PREVIEWS.running == PREVIEWS.per_caller, what="the previews to start"
        )

        health = await client.get("/healthz")
        assert health.status_code == 200
        still = PREVIEWS.running
        assert still == PREVIEWS.per_caller and not any(p.done() for p in previews), (
            "/healthz answered only after the previews had finished"
        )

        # Over this session's share: refused at once, not queued.
        third = await client.post("/console/templates/preview", data=form)
        assert third.status_code == 429
        assert "already running for you" in third.text

        for answer in await asyncio.gather(*previews):
            assert answer.status_code == 200
            assert "too slow" in answer.text
    await wait_for(lambda: PREVIEWS.in_pool == 0, what="the pool to empty")
