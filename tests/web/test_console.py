"""The web console in Chromium: declare after a dry run, edit templates with a preview and
versions, lint refusals at their line, roles, and pages that fit a phone."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from notifier.services import incidents
from notifier.services import template_versions as versions
from tests.waiting import wait_for
from tests.web.conftest import Console, shot

SMS = "incident_declared/sms.en.j2"
ANN = "+12015550123"


async def _csrf(page: Page) -> str:
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token


async def test_declare_after_the_dry_run_and_follow_it_to_100_percent(console: Console) -> None:
    page = await console.page("ops")
    await shot(page, "incidents")
    await page.get_by_role("link", name="Declare an outage").click()
    await page.get_by_label("Title").fill("Satellite radio signal outage")
    await page.get_by_label("Severity").select_option("major")
    await page.get_by_label("Affected services").fill("satellite-radio")
    await page.get_by_label("First message to customers").fill("Your radio is not broken.")
    await expect(page.get_by_role("button", name="Confirm and declare")).to_have_count(0)
    await page.get_by_role("button", name="Preview the audience").click()

    await expect(page.locator("#affected-count")).to_have_text("5")
    await expect(page.locator("td[data-channel=email]")).to_have_text("5")
    await expect(page.locator("td[data-channel=sms]")).to_have_text("3")
    await expect(page.locator("#dry-run")).to_contain_text("opted out of sms: 1")
    await shot(page, "declare-dry-run")
    assert console.sink.messages == [] and console.twilio.messages == []  # nothing sent yet

    await page.get_by_role("button", name="Confirm and declare").click()
    await page.wait_for_url(re.compile(r"/console/incidents/\d+$"))
    await wait_for(
        lambda: len(console.sink.messages) == 5 and len(console.twilio.messages) == 3,
        what="5 emails and 3 SMS at the peers",
    )
    # Refreshed in place (htmx polling): no reload.
    await expect(page.locator("#progress-percent")).to_have_text("100%")
    await expect(page.locator("td[data-sent=email]")).to_have_text("5")
    await expect(page.locator("td[data-sent=sms]")).to_have_text("3")
    await shot(page, "incident")

    await page.get_by_label("Message", exact=True).fill("Engineers are on site.")
    await page.get_by_label("Status").select_option("identified")
    await page.get_by_role("button", name="Post the update").click()
    await expect(page.locator("#status")).to_have_text("identified")
    await expect(page.locator("#updates")).to_contain_text("Engineers are on site.")

    await page.get_by_label("Cause (required)").fill("A faulty software update")
    await page.get_by_role("button", name="Resolve the incident").click()
    await expect(page.locator("#status")).to_have_text("resolved")
    await expect(page.locator("#told-before")).to_contain_text("Told before they called")


async def test_edit_preview_save_use_and_restore_a_template(console: Console) -> None:
    page = await console.page("support")
    await page.get_by_role("link", name="Templates").click()
    await shot(page, "templates")
    await page.goto(f"{console.base}/console/templates/edit?path={SMS}")
    preview = page.locator("#preview-text")
    await expect(preview).to_contain_text("We're working on it.")
    source = page.get_by_label("Source")
    original = await source.input_value()
    edited = original.replace("We're working on it.", "Our crew is fixing it now.")
    await source.fill(edited)
    await expect(preview).to_contain_text("Our crew is fixing it now.")
    await expect(page.locator("#sms-segments")).to_contain_text("GSM-7")
    await source.fill(edited + "Désolé — merci.\n")  # long dash and ê: UCS-2
    await expect(page.locator("#preview")).to_contain_text("force UCS-2")
    await source.fill(edited)
    await expect(page.locator("#preview")).not_to_contain_text("force UCS-2")
    await page.get_by_label("Preview for customer").fill("c-en")
    await page.get_by_label("Preview for customer").press("Tab")
    await shot(page, "editor")
    await page.get_by_role("button", name="Save and make live").click()
    await expect(page.locator("#saved")).to_contain_text("Version 2 saved and live")
    await expect(page.locator("#version-1")).to_contain_text("templates/")
    await expect(page.locator("#version-2")).to_contain_text("support key")
    await page.locator("#version-2 summary").click()
    await expect(page.locator("#version-2 .diff")).to_contain_text(
        re.compile(r"\n\+.*Our crew is fixing it now\.")
    )

    # The next message uses the new wording.
    await incidents.declare(
        console.app.engine,
        now=console.app.clock.now(),
        title="Radio outage",
        severity="major",
        affects=["satellite-radio"],
    )
    await wait_for(lambda: any(m.to == ANN for m in console.twilio.messages), what="Ann's SMS")
    ann = next(m for m in console.twilio.messages if m.to == ANN)
    assert "Our crew is fixing it now." in ann.body

    # Restore version 1: a new version 3 with its source.
    await page.get_by_role("button", name="Restore v1").click()
    await expect(page.locator("#saved")).to_contain_text("Version 3 saved and live")
    live = await versions.live_set(console.app)
    assert live[SMS] == original.replace("\r\n", "\n")
    assert console.app.templates.current.source(*_key(SMS)) == live[SMS]


def _key(path: str) -> tuple[str, versions.ChannelName, str]:
    key = versions.key_of(path)
    return key.message, key.channel, key.locale


async def test_a_syntax_error_shows_at_its_line_and_never_goes_live(console: Console) -> None:
    page = await console.page("support")
    await page.goto(f"{console.base}/console/templates/edit?path={SMS}")
    source = page.get_by_label("Source")
    original = await source.input_value()
    await source.fill("Hello {{ customer.name }}\n{% if %}\nbye\n")
    await expect(page.locator("#lint-issues")).to_contain_text("line 2: error: syntax error")
    await expect(page.locator("ol.source li.flagged")).to_contain_text("line 2")
    await page.get_by_role("button", name="Save and make live").click()
    await expect(page.locator("#refused")).to_contain_text("line 2")
    await shot(page, "editor-lint-refused")
    live = await versions.live_set(console.app)
    assert live[SMS] == original.replace("\r\n", "\n")
    assert "{% if %}" not in console.app.templates.current.source(*_key(SMS))
    await expect(page.get_by_role("button", name="Save and make live")).to_be_visible()


async def test_roles_support_cannot_declare_and_viewer_cannot_edit(console: Console) -> None:
    support = await console.page("support")
    await expect(support.get_by_role("link", name="Declare an outage")).to_have_count(0)
    response = await support.goto(f"{console.base}/console/incidents/new")
    assert response is not None and response.status == 403
    await expect(support.locator("main")).to_contain_text("may not declare an outage")
    form = {"csrf": await _csrf(support), "title": "x", "affects": "satellite-radio"}
    form["action"] = "confirm"
    posted = await support.request.post(f"{console.base}/console/incidents/new", form=form)
    assert posted.status == 403
    assert await incidents.list_all(console.app.engine) == []

    viewer = await console.page("viewer")
    await viewer.goto(f"{console.base}/console/templates/edit?path={SMS}")
    await expect(viewer.get_by_label(re.compile("^Source"))).to_have_attribute("readonly", "")
    await expect(viewer.get_by_role("button", name="Save and make live")).to_have_count(0)
    form = {"csrf": await _csrf(viewer), "path": SMS, "source": "Hacked"}
    saved = await viewer.request.post(f"{console.base}/console/templates/save", form=form)
    assert saved.status == 403
    # And without the CSRF token even a support key's post is refused.
    bad = await support.request.post(
        f"{console.base}/console/templates/save", form={"path": SMS, "source": "x"}
    )
    assert bad.status == 403
    assert "Hacked" not in (await versions.live_set(console.app))[SMS]


async def test_keyboard_sign_in_and_pages_that_fit_390_px(console: Console) -> None:
    context = await console.browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await page.goto(f"{console.base}/console/login")
    await page.keyboard.press("Tab")  # the skip link
    await page.keyboard.press("Tab")
    await page.keyboard.type(console.keys["ops"])
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/console/incidents")
    await incidents.declare(
        console.app.engine,
        now=console.app.clock.now(),
        title="A long title that must wrap on a narrow phone screen without scrolling sideways",
        severity="critical",
        affects=["satellite-radio"],
    )
    pages = {
        "incidents": "/console/incidents",
        "declare": "/console/incidents/new",
        "incident": "/console/incidents/1",
        "templates": "/console/templates",
        "editor": "/console/templates/edit?path=incident_declared/email.en.j2",
        "customers": "/console/customers?q=example",
        "customer": "/console/customers/c-en",
    }
    for name, path in pages.items():
        await page.goto(console.base + path)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide at 390"
        unlabelled = await page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)"""
        )
        assert unlabelled == [], f"{name}: fields without a label: {unlabelled}"
        await shot(page, f"390-{name}")
    await context.close()


async def test_stale_links_and_expired_forms_get_a_page_with_a_way_back(console: Console) -> None:
    page = await console.page("ops")
    for path, status, heading, says in [
        ("/console/incidents/999", 404, "Not found", "incident 999 does not exist"),
        ("/console/incidents/abc", 422, "Not a valid address", "incident_id: Input should be"),
        ("/console/incidentz", 404, "Not found", "there is no page at /console/incidentz"),
    ]:
        response = await page.goto(f"{console.base}{path}")
        assert response is not None and response.status == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        await expect(page.get_by_role("alert")).to_contain_text(says)
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    # A form left open while the session changed: its CSRF token no longer matches.
    incident = await incidents.declare(
        console.app.engine,
        title="Expired form",
        severity="minor",
        affects=["satellite-radio"],
        now=console.app.clock.now(),
    )
    await page.goto(f"{console.base}/console/incidents/{incident.id}")
    csrf = page.locator("form[action$='/update'] input[name=csrf]")
    await csrf.evaluate("input => input.value = 'stale'")
    await page.locator("#update-message").fill("Still on it")
    await csrf.evaluate("input => input.form.requestSubmit()")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    await expect(page.get_by_role("alert")).to_contain_text("the form has expired")
    view = await incidents.show(console.app.engine, incident.id)
    assert [u.message for u in view.updates if u.message] == []  # nothing was posted
    await page.get_by_role("link", name="Back to the incidents").click()
    await page.wait_for_url("**/console/incidents")

    # The API under the same server still answers JSON.
    answer = await page.request.get(
        f"{console.base}/api/incidents/999",
        headers={"Authorization": f"Bearer {console.keys['ops']}"},
    )
    assert answer.status == 404 and await answer.json() == {"detail": "incident 999 does not exist"}
