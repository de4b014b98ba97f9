"""The console's incident page: which provider carried the messages, and "send failed
messages again" for ops (not for a viewer), once."""

from __future__ import annotations

from playwright.async_api import expect

from notifier.services import incidents
from tests.waiting import wait_for
from tests.web.conftest import Console
from tests.web.test_console import ANN, _csrf


async def test_ops_retry_failed_sms_from_the_incident_page_once(console: Console) -> None:
    console.twilio.fail_number(ANN, code=21211)  # refused for good: the SMS fails
    incident = await incidents.declare(
        console.app.engine,
        title="Satellite radio signal outage",
        severity="major",
        affects=["satellite-radio"],
        now=console.app.clock.now(),
    )
    await wait_for(lambda: len(console.twilio.messages) == 2, what="the two other SMS")
    page = await console.page("ops")
    await page.goto(f"{console.base}/console/incidents/{incident.id}")
    await expect(page.locator("td[data-failed=sms]")).to_have_text("1", timeout=20_000)
    await expect(page.locator("td[data-providers=sms]")).to_have_text("sms-1: 2")
    await expect(page.locator("td[data-providers=email]")).to_have_text("relay-1: 5")

    viewer = await console.page("viewer")
    await viewer.goto(f"{console.base}/console/incidents/{incident.id}")
    await expect(viewer.get_by_role("button", name="Send them again")).to_have_count(0)
    refused = await viewer.request.post(
        f"{console.base}/console/incidents/{incident.id}/retry",
        form={"csrf": await _csrf(viewer), "channel": "sms"},
    )
    assert refused.status == 403

    bad = await page.request.post(
        f"{console.base}/console/incidents/{incident.id}/retry",
        form={"csrf": await _csrf(page), "channel": "fax"},
    )
    assert bad.status == 422
    assert "is not a channel" in await bad.text()

    console.twilio.reset()  # the number works now
    await page.get_by_label("Channel", exact=True).select_option("sms")
    await page.get_by_label("Reason contains (optional, e.g. 454 or throttled)").fill("21211")
    await page.get_by_role("button", name="Send them again").click()
    await expect(page.locator("#retried")).to_contain_text("1 failed messages")
    await wait_for(lambda: len(console.twilio.messages) == 1, what="the retried SMS")
    await expect(page.locator("td[data-failed=sms]")).to_have_text("0", timeout=20_000)
    # Again: nothing left to retry, nothing sent twice.
    await page.get_by_role("button", name="Send them again").click()
    await expect(page.locator("#retried")).to_contain_text("0 failed messages")
    assert [m.to for m in console.twilio.messages] == [ANN]
