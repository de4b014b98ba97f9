"""A template that is cheap for the samples and slow for real data never cripples sending.

- Lint renders samples of the real types: a draft slow only for a string customer id (real
  ids are strings; the sample's was an integer) is refused.
- Saving tries a new version on a few real customers: a draft slow only for one of them
  stays a draft, and the error names the customer.
- At send time, a live template that runs out of time for real customers is paused after
  two such renders: the rest of its messages fail at once with a reason that says so
  (instead of each taking the whole limit and failing), and operations get one email.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.engine.slow_templates import PAUSE_AFTER
from notifier.runtime.worker import Worker
from notifier.services import incidents, template_versions
from notifier.store import events as event_store
from notifier.store.tables import outbox
from notifier.templating.limits import MAX_SECONDS
from notifier.templating.lint import lint_sources
from tests.harness import ROOT, harness

# Thousands of word counts over a 57,000-character string: seconds of work in fewer steps
# than the step limit, so only the time limit stops it.
_SLOW = (
    '{% set w = "word " * 1900 %}{% set big = w ~ w ~ w ~ w ~ w ~ w %}'
    "{% for i in range(4000) %}{% set n = big | wordcount %}{% endfor %}"
)
_SMS = "{{ company.name }}: {{ incident.title }}. We're working on it.\n"


def _slow_when(condition: str) -> str:
    return f"{{% if {condition} %}}{_SLOW}{{% endif %}}{_SMS}"


def test_lint_refuses_a_draft_slow_for_a_string_customer_id() -> None:
    path = "incident_declared/sms.en.j2"
    fast = lint_sources({path: _slow_when("customer.id is number")})
    assert [i for i in fast if i.severity == "error"] == []
    slow = lint_sources({path: _slow_when("customer.id is string")})
    errors = [i for i in slow if i.severity == "error"]
    assert len(errors) == 1, slow
    assert errors[0].file == path
    assert "too slow" in errors[0].message and "well under" in errors[0].message


async def test_saving_tries_real_customers_before_going_live(tmp_path: Path) -> None:
    async with harness(f"sqlite+aiosqlite:///{tmp_path / 'save.db'}") as h:
        await h.load_customers(tmp_path)
        path = "incident_declared/sms.en.j2"
        # Fast for the sample customer (example.com) and every customer but one.
        result = await template_versions.save(
            h.app,
            path,
            _slow_when('customer.email.endswith("@example.fr") and customer.id == "c-fr"'),
            author="ann",
            now=h.clock.now(),
        )
        assert not result.live
        assert [(e.file, e.message) for e in result.errors] == [
            (
                path,
                "too slow: rendering took more than 0.5 seconds (for customer 'c-fr'); a "
                f"render must take well under the {MAX_SECONDS:g} s allowed at send time "
                "(at most 0.5 s here)",
            )
        ]
        fine = await template_versions.save(
            h.app, path, _slow_when('customer.id == "nobody"'), author="ann", now=h.clock.now()
        )
        assert fine.live, fine.issues


_CUSTOMERS = "id,name,email,phone,locale,timezone,services,opt_out\n" + "".join(
    f"c-{i},Customer {i},c{i}@example.com,+1201555{i:04d},en,America/New_York,satellite-radio,\n"
    for i in range(6)
)


async def test_a_template_slow_at_send_time_is_paused_and_operations_told_once(
    tmp_path: Path,
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    # Live without lint (a file edited in the folder): slow for every real customer.
    (templates / "incident_declared" / "sms.en.j2").write_text(
        _slow_when("customer.id is string"), encoding="utf-8"
    )
    async with harness(f"sqlite+aiosqlite:///{tmp_path / 'send.db'}", templates=templates) as h:
        await h.load_customers(tmp_path, _CUSTOMERS)
        await incidents.declare(
            h.app.engine,
            title="Satellite radio signal outage",
            severity="major",
            affects=["satellite-radio"],
            eta=h.clock.now() + timedelta(hours=3),
            now=h.clock.now(),
        )
        await h.drain()
        async with h.app.engine.connect() as conn:
            query = select(outbox.c.customer_id, outbox.c.channel, outbox.c.reason).where(
                outbox.c.template == "incident_declared"
            )
            rows = (await conn.execute(query)).all()
        sms = sorted((r.customer_id, r.reason or "") for r in rows if r.channel == "sms")
        assert len(sms) == 6
        slow = [c for c, reason in sms if reason.endswith("took more than 2 seconds")]
        paused = [c for c, reason in sms if "is paused" in reason]
        assert len(slow) == PAUSE_AFTER and len(paused) == 6 - PAUSE_AFTER, sms
        to_operations = [r for r in rows if r.customer_id == "operations" and r.channel == "email"]
        alerts = [m for m in h.sink.messages if "paused" in str(m.message["Subject"])]
        assert len(alerts) == 1, [str(m.message["Subject"]) for m in h.sink.messages]
        assert alerts[0].rcpt_tos == ("ops@example.com",)
        assert "incident_declared/sms.en.j2" in str(alerts[0].message["Subject"])
        assert to_operations, "the alert is an outbox row for operations"

        # Planned again by another worker (as after a crash before the event was marked
        # planned): the template is paused there too, and operations still get one email.
        async with h.app.engine.connect() as conn:
            declared = (await event_store.events_for_subject(conn, "incident", "1"))[0]
        other = Worker(h.app)
        try:
            await other.planner.plan(declared)
        finally:
            await other.close()
        await h.drain()
        alerts = [m for m in h.sink.messages if "paused" in str(m.message["Subject"])]
        assert len(alerts) == 1
