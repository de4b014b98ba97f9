"""Once an incident is resolved, the resolution is the last word about it.

Whatever else falls due at the same instant (a follow-up, the ETA watchdog, a promised
update), and whichever is noticed first, customers do not get "still working on it" or
"taking longer than we said" beside "Fixed".
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.runtime.simulate import simulate
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.store.tables import outbox
from tests.harness import START, Harness, harness

ROOT = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)
WAITING = {"pending", "deferred", "grouping"}

# 15:00 UTC is 10:00 in New York: no quiet hours in the way. The ETA, the promised update
# and the shipped 4-hourly follow-up all fall due at +4h, the instant of the resolution.
SAME_INSTANT = """
start = "2026-01-15T15:00:00Z"
horizon = "+10h"

[[customers]]
id = "c-ny"
name = "Ann Lee"
email = "ann@example.com"
phone = "+12015550123"
locale = "en"
timezone = "America/New_York"
services = ["r"]

[[events]]
at = "+0m"
declare = { title = "Outage", severity = "major", affects = ["r"], eta = "+4h", next_update = "+4h"}
{extra}
[[events]]
at = "+4h"
resolve = { incident = 1, cause = "A power cut." }
"""
UPDATE_AT_THE_SAME_INSTANT = """
[[events]]
at = "+4h"
update = { incident = 1, message = "Engineers are on site." }
"""


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )


async def _rehearse(tmp_path: Path, extra: str = "") -> list[tuple[str, str, str]]:
    path = tmp_path / "night.toml"
    path.write_text(SAME_INSTANT.replace("{extra}", extra), encoding="utf-8")
    messages = await simulate(_settings(tmp_path), load_scenario(path))
    return [(f"{m.time:%H:%M}", m.customer, m.rule) for m in messages]


async def test_nothing_due_at_the_resolution_goes_beside_it(tmp_path: Path) -> None:
    at_resolution = [(c, r) for t, c, r in await _rehearse(tmp_path) if t == "19:00"]
    assert sorted(at_resolution) == [
        ("c-ny", "incident-resolved-email"),
        ("c-ny", "incident-resolved-sms"),
    ]


async def test_an_update_at_the_instant_of_resolution_is_not_sent(tmp_path: Path) -> None:
    sent = await _rehearse(tmp_path, UPDATE_AT_THE_SAME_INSTANT)
    at_resolution = sorted(r for t, _, r in sent if t == "19:00")
    assert at_resolution == ["incident-resolved-email", "incident-resolved-sms"]


async def _declare(h: Harness) -> int:
    incident = await incidents.declare(
        h.app.engine,
        title="Signal outage",
        severity="major",
        affects=["satellite-radio"],
        eta=START + 4 * H,
        now=h.clock.now(),
    )
    return incident.id


async def _waiting_about(h: Harness, incident_id: int) -> list[tuple[str, str, str | None]]:
    query = select(outbox.c.rule, outbox.c.status, outbox.c.reason).where(
        outbox.c.subject_type == "incident",
        outbox.c.subject_id == str(incident_id),
        outbox.c.rule.not_like("incident-declared%"),
    )
    async with h.app.engine.connect() as conn:
        return [(r.rule, r.status, r.reason) for r in await conn.execute(query)]


async def test_messages_planned_before_the_resolution_never_leave(
    db_url: str, tmp_path: Path
) -> None:
    """Planned, not yet sent, when the operator resolves: the resolution's own transaction
    withdraws them, before anyone plans the resolution."""
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        incident_id = await _declare(h)
        worker = Worker(h.app)
        try:
            await h.run_until(START + 4 * H - timedelta(minutes=1), worker)
            h.clock.set(START + 4 * H)
            await worker.timers.fire_due()  # the follow-up and the ETA watchdog...
            await worker.planner.plan_pending()  # ...and the eta_passed event's messages
            planned = await _waiting_about(h, incident_id)
            assert {rule for rule, _, _ in planned} >= {"still-working", "eta-passed-customers"}
            await incidents.resolve(h.app.engine, incident_id, cause="Fixed.", now=h.clock.now())
            after = await _waiting_about(h, incident_id)
            waiting = [(rule, status) for rule, status, _ in after if status in WAITING]
            assert waiting == [], f"still waiting after the resolution: {waiting}"
            withdrawn = {rule for rule, status, _ in after if status == "superseded"}
            assert withdrawn >= {"still-working", "eta-passed-customers"}
            assert "superseded by the resolution" in {why for _, _, why in after}
            await h.run_until(START + 12 * H, worker)
        finally:
            await worker.close()
        subjects = {str(m.message["Subject"]) for m in h.sink.messages}
        assert not any(s.startswith(("Still working", "Taking longer")) for s in subjects)
        assert any(s.startswith("Fixed") for s in subjects)


async def test_a_deadline_noticed_before_the_resolution_is_planned_says_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """The watchdog raised eta_passed at the instant of resolution, just before it: the
    event is planned after the incident is resolved, and tells nobody anything."""
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        incident_id = await _declare(h)
        worker = Worker(h.app)
        try:
            await h.run_until(START + 4 * H - timedelta(minutes=1), worker)
            h.clock.set(START + 4 * H)
            await worker.timers.fire_due()  # eta_passed recorded, not yet planned
            await incidents.resolve(h.app.engine, incident_id, cause="Fixed.", now=h.clock.now())
            await h.run_until(START + 12 * H, worker)
        finally:
            await worker.close()
        rules = {rule for rule, status, _ in await _waiting_about(h, incident_id)}
        assert "eta-passed-customers" not in rules
        assert "eta-passed-operations" not in rules
        assert "incident-resolved-email" in rules
