"""The public status page in Chromium: ops add a service in the console, an incident is
declared, and a visitor sees it without JavaScript (times in UTC, in French from the
browser's language) and with it (times in the browser's zone); headings and labels are
there for a screen reader."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from notifier.services import incidents, service_catalog
from tests.waiting import wait_for
from tests.web.conftest import Console, shot


async def _until(check: Callable[[], bool], what: str) -> None:
    await wait_for(check, what=what)


async def test_services_in_the_console_and_the_public_page(console: Console) -> None:
    page = await console.page("ops")
    await page.get_by_role("link", name="Services").click()
    await page.get_by_label("Key (as incidents name it)").fill("satellite-radio")
    await page.get_by_label("Name", exact=True).fill("Satellite radio")
    await page.get_by_label("Group").fill("Listening")
    await page.get_by_role("button", name="Add the service").click()
    row = page.locator('tr[data-service="satellite-radio"]')
    await expect(row.locator(".status")).to_have_text("operational")
    await page.get_by_label("Key (as incidents name it)").fill("bad key")
    await page.get_by_label("Name", exact=True).fill("X")
    await page.get_by_role("button", name="Add the service").click()
    await expect(page.locator("#service-error")).to_contain_text("key:")

    now = console.app.clock.now()
    incident = await incidents.declare(
        console.app.engine,
        title="Satellite radio signal outage",
        severity="major",
        affects=["satellite-radio"],
        eta=now + timedelta(hours=6),
        workaround="Online streaming works.",
        message="Your radio is not broken.",
        now=now,
    )

    # Without JavaScript, in French: times in UTC.
    context = await console.browser.new_context(java_script_enabled=False, locale="fr-FR")
    visitor = await context.new_page()
    visitor.set_default_timeout(15_000)
    await visitor.goto(f"{console.base}/status")
    await expect(visitor.locator("#banner")).to_have_text("Panne partielle", timeout=20_000)
    await expect(visitor.get_by_role("heading", name="Incidents en cours")).to_be_visible()
    await expect(visitor.get_by_role("heading", name="Services", exact=True)).to_be_visible()
    await expect(visitor.locator(".workaround")).to_have_text("Online streaming works.")
    await expect(visitor.locator(".eta time")).to_contain_text("UTC")
    await expect(visitor.get_by_label("Les 90 derniers jours de Satellite radio")).to_have_count(1)
    await shot(visitor, "status-no-js-fr")
    await visitor.get_by_role("link", name="Satellite radio signal outage").click()
    await expect(visitor.get_by_role("heading", level=1)).to_have_text(incident.title)
    await context.close()

    # With JavaScript in Paris: the same times in the reader's zone.
    context = await console.browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    visitor = await context.new_page()
    visitor.set_default_timeout(15_000)
    await visitor.goto(f"{console.base}/status?lang=fr")
    assert incident.eta is not None
    paris = incident.eta.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
    utc = incident.eta.strftime("%H:%M")
    eta = visitor.locator(".eta time")
    await expect(eta).to_contain_text(paris)
    await expect(eta).not_to_contain_text(utc)
    await shot(visitor, "status-paris")
    await context.close()


async def test_schedule_and_start_maintenance_in_the_console(console: Console) -> None:
    page = await console.page("ops")
    await page.get_by_role("link", name="Maintenance").click()
    starts = console.app.clock.now() + timedelta(days=2)
    await page.get_by_label("Title").fill("Uplink upgrade")
    await page.get_by_label("Services (keys, comma-separated)").fill("satellite-radio")
    await page.get_by_label("Starts (UTC)").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("Ends (UTC)").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("Message to customers").fill("Radios may go silent.")
    await page.get_by_role("button", name="Schedule the maintenance").click()
    await expect(page.locator("#maintenance-error")).to_contain_text("ends: ")
    ends = starts + timedelta(hours=2)
    await page.get_by_label("Title").fill("Uplink upgrade")
    await page.get_by_label("Services (keys, comma-separated)").fill("satellite-radio")
    await page.get_by_label("Starts (UTC)").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("Ends (UTC)").fill(ends.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("Message to customers").fill("Radios may go silent.")
    await page.get_by_role("button", name="Schedule the maintenance").click()
    row = page.locator('tr[data-maintenance="1"]')
    await expect(row.locator(".status")).to_have_text("scheduled")
    await page.get_by_role("button", name="Start Uplink upgrade").click()
    await expect(row.locator(".status")).to_have_text("in_progress")

    visitor = await (await console.browser.new_context()).new_page()
    visitor.set_default_timeout(15_000)
    await visitor.goto(f"{console.base}/status")
    await expect(visitor.get_by_role("heading", name="Maintenance in progress")).to_be_visible()
    await expect(visitor.locator("#active-maintenance")).to_contain_text("Radios may go silent.")
    await shot(visitor, "status-maintenance")

    viewer = await console.page("viewer")
    await viewer.goto(f"{console.base}/console/maintenance")
    await expect(viewer.get_by_role("button", name="Schedule the maintenance")).to_have_count(0)


async def test_a_visitor_subscribes_confirms_and_hears_of_an_incident(console: Console) -> None:
    now = console.app.clock.now()
    await service_catalog.add(
        console.app.engine, key="satellite-radio", name="Satellite radio", now=now
    )
    context = await console.browser.new_context()
    visitor = await context.new_page()
    visitor.set_default_timeout(15_000)
    await visitor.goto(f"{console.base}/status")
    await visitor.get_by_role("link", name="Get updates").click()
    await visitor.get_by_label("By email").check()
    await visitor.get_by_label("Email address or phone number").fill("visitor@example.org")
    await visitor.get_by_label("Satellite radio").check()
    await visitor.get_by_role("button", name="Subscribe").click()
    await expect(visitor.locator("#subscribe-done")).to_contain_text("Check your inbox")
    await shot(visitor, "status-subscribe")

    def to_visitor() -> list[str]:
        found = []
        for m in console.sink.messages:
            if "visitor@example.org" in m.rcpt_tos:
                body = m.message.get_body(("plain",))
                found.append(str(body.get_content()) if body is not None else "")  # type: ignore[attr-defined]
        return found

    await _until(lambda: len(to_visitor()) == 1, "the confirmation email")
    link = re.search(r"http://\S+/status/subscribe/confirm/\S+", to_visitor()[0])
    assert link is not None
    await visitor.goto(link.group())
    await visitor.get_by_role("button", name="Confirm").click()
    await expect(visitor.get_by_role("heading", name="Your subscription")).to_be_visible()

    await incidents.declare(
        console.app.engine,
        title="Satellite radio signal outage",
        severity="major",
        affects=["satellite-radio"],
        now=console.app.clock.now(),
    )
    await _until(lambda: len(to_visitor()) == 2, "the incident email to the subscriber")
    assert "Satellite radio signal outage" in to_visitor()[1]
    await context.close()
