"""The web console in a real browser: `notifier serve` (uvicorn, worker in process) on
127.0.0.1 with the real SMTP sink and Twilio stand-in, driven by Playwright through
Debian's Chromium (/usr/bin/chromium; no browser is downloaded).

Without Chromium the tests skip, except under CI (CI=1, true or yes, any case), where they
fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from notifier.runtime.app import App
from notifier.services.apikeys import create_key
from notifier.services.customers import import_customers
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from tests.api.conftest import api_settings
from tests.api.test_xm_over_http import _free_port, _served
from tests.ci import under_ci
from tests.harness import CUSTOMERS_CSV, ROOT, SID, TOKEN, settings_for
from tests.waiting import GENEROUS

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's waits (actions, and `expect`, whose own default is 5 s) get the suite's
# generous deadline: they wait for a condition, and a busy machine must not fail them.
BROWSER_WITHIN_MS = int(GENEROUS * 1000)
expect.set_options(timeout=BROWSER_WITHIN_MS)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if under_ci():
        pytest.fail(f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")


@dataclass
class Console:
    base: str
    app: App
    sink: SmtpSink
    twilio: TwilioStandin
    browser: Browser
    keys: dict[str, str] = field(default_factory=dict)

    async def page(self, role: str, width: int = 1280, height: int = 900) -> Page:
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        page.set_default_timeout(BROWSER_WITHIN_MS)
        await page.goto(f"{self.base}/console/login")
        await page.get_by_label("API key").fill(self.keys[role])
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/console/incidents")
        return page


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    need_chromium()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    csv = tmp_path / "customers.csv"
    csv.write_text(CUSTOMERS_CSV, encoding="utf-8")
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"
    with SmtpSink() as sink:
        async with TwilioStandin(account_sid=SID, auth_token=TOKEN) as twilio:
            settings = settings_for(db_url, sink, twilio, scheduler={"poll_interval": 0.05})
            app = await App.open(api_settings(settings, public_base_url=base))
            try:
                now = app.clock.now()
                report = await import_customers(
                    app.engine,
                    csv,
                    default_region="US",
                    default_locale="en",
                    default_timezone="UTC",
                    now=now,
                )
                assert report.errors == []
                keys = {
                    role: (await create_key(app.engine, name=f"{role} key", role=role, now=now))[1]
                    for role in ("ops", "support", "viewer")
                }
                async with _served(app, port), async_playwright() as pw:
                    browser = await pw.chromium.launch(
                        executable_path=str(CHROMIUM), headless=True, args=ARGS
                    )
                    try:
                        yield Console(base, app, sink, twilio, browser, keys)
                    finally:
                        await browser.close()
            finally:
                await app.close()
