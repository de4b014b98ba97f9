"""The console asks for the operator's free text once per locale the templates speak."""

from __future__ import annotations

import re
from email.message import EmailMessage

from playwright.async_api import expect

from tests.waiting import wait_for
from tests.web.conftest import Console


def _said_to(console: Console, address: str) -> list[str]:
    said = []
    for m in console.sink.messages:
        if address in m.rcpt_tos and isinstance(m.message, EmailMessage):
            body = m.message.get_body(("plain",))
            said.append(" ".join((body.get_content() if body else "").split()))
    return said


async def test_one_field_per_locale_and_each_customer_reads_theirs(console: Console) -> None:
    page = await console.page("ops")
    await page.goto(f"{console.base}/console/incidents/new")
    await page.get_by_label("Title").fill("Signal outage")
    await page.get_by_label("Affected services").fill("satellite-radio")
    await page.get_by_label("First message to customers").fill("Your radio is not broken.")
    await page.get_by_label("First message in fr").fill("Votre radio n'est pas en panne.")
    await page.get_by_role("button", name="Preview the audience").click()
    await page.get_by_role("button", name="Confirm and declare").click()
    await page.wait_for_url(re.compile(r"/console/incidents/\d+$"))
    await wait_for(lambda: len(console.sink.messages) == 5, what="the five declaration emails")
    assert any("Votre radio n'est pas en panne." in s for s in _said_to(console, "zoe@example.fr"))
    assert any("Your radio is not broken." in s for s in _said_to(console, "ann@example.com"))

    await page.get_by_label("Message", exact=True).fill("Engineers are on site.")
    await page.get_by_label("Message in fr").fill("Nos techniciens sont sur place.")
    await page.get_by_role("button", name="Post the update").click()
    await expect(page.locator("#updates")).to_contain_text("Engineers are on site.")
    await page.get_by_label("Cause (required)").fill("A power cut.")
    await page.get_by_label("Cause in fr").fill("Une coupure de courant.")
    await page.get_by_role("button", name="Resolve the incident").click()
    await expect(page.locator("#status")).to_have_text("resolved")
    await wait_for(
        lambda: any("Une coupure de courant." in s for s in _said_to(console, "zoe@example.fr")),
        what="the French resolution, with the French cause",
    )
