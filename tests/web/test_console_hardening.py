"""In Chromium: another site's page cannot frame the signed-in console, and a new
incident's watchdog section fills in by itself once the worker has armed it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from playwright.async_api import expect

from tests.api.test_xm_over_http import _free_port
from tests.web.conftest import Console

SMS = "incident_declared/sms.en.j2"


@asynccontextmanager
async def _other_site(html: str) -> AsyncIterator[str]:
    """A page on another port of the same host: the same *site*, another origin."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_another_site_cannot_frame_the_signed_in_editor(console: Console) -> None:
    editor = await console.page("support")
    target = f"{console.base}/console/templates/edit?path={SMS}"
    await editor.goto(target)
    await expect(editor.get_by_role("button", name="Save and make live")).to_be_visible()

    html = f'<h1>Win a prize</h1><iframe id="bait" src="{target}" width="800" height="600">'
    async with _other_site(html) as url:
        bait = await editor.context.new_page()  # the same browser: the same cookies
        await bait.goto(url)
        await expect(bait.locator("h1")).to_have_text("Win a prize")
        frame = bait.frame_locator("#bait")
        # Blocked by the browser: the frame holds its error page, never the editor.
        await expect(frame.locator("body")).not_to_contain_text("Save and make live")
        await expect(frame.get_by_role("button")).to_have_count(0)
        loaded = [f.url for f in bait.frames if f is not bait.main_frame]
        assert loaded and not any(u.startswith(console.base) for u in loaded), loaded


async def test_a_new_incidents_watchdog_fills_in_without_a_reload(console: Console) -> None:
    page = await console.page("ops")
    await page.get_by_role("link", name="Declare an outage").click()
    await page.get_by_label("Title").fill("Satellite radio signal outage")
    await page.get_by_label("Affected services").fill("satellite-radio")
    await page.get_by_role("button", name="Preview the audience").click()
    await page.get_by_role("button", name="Confirm and declare").click()
    await page.wait_for_url(re.compile(r"/console/incidents/\d+$"))
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
    # The worker arms the follow-ups just after the declaration; the section catches up.
    await expect(page.locator("#watchdog")).not_to_contain_text("Nothing armed")
    await expect(page.locator("#watchdog tbody tr").first).to_contain_text("pending")
    assert navigations == []  # no reload
