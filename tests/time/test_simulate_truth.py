"""What rehearsed outage nights tell customers is true when it leaves.

Every sample outage in scenarios/, and the night the issue was found on: the ETA passes,
and the update that follows (posted without --eta, as the operations alert advises) must not
repeat the broken promise as the plan.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from notifier.config import Settings
from notifier.engine.scenario import Scenario, load_scenario
from notifier.runtime.simulate import SimulatedMessage, simulate

ROOT = Path(__file__).resolve().parents[2]
PLANS = (
    "still expect",
    "we expect",
    "expected fix",
    "current estimate",
    "now expected",
    "prévoyons",
    "retour prévu",
    "estimation actuelle",
)

MISSED_NIGHT = """
start = "2026-01-15T05:00:00Z"      # midnight in New York, 06:00 in Paris
horizon = "+20h"

[[customers]]
id = "c-ny"
name = "Ann Lee"
email = "ann@example.com"
phone = "+12015550123"
locale = "en"
timezone = "America/New_York"
services = ["radio"]

[[customers]]
id = "c-paris"
name = "Zoé Martin"
email = "zoe@example.fr"
phone = "+33612345678"
locale = "fr"
timezone = "Europe/Paris"
services = ["radio"]

[[events]]
at = "+0m"
declare = { title = "Signal outage", severity = "major", affects = ["radio"], eta = "+2h" }

[[events]]
at = "+5h"
update = { incident = 1, status = "identified", message = "Engineers are on site." }

[[events]]
at = "+14h"
resolve = { incident = 1, cause = "A power cut at the uplink." }
"""


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )


def _etas(scenario: Scenario) -> list[tuple[datetime, datetime | None]]:
    """(from when, the ETA in force) along the scenario's single incident."""
    etas: list[tuple[datetime, datetime | None]] = []
    for event in sorted(scenario.events, key=lambda e: e.at):
        at = scenario.start + event.at
        given = event.declare or event.update
        if event.declare is not None or (given is not None and given.eta is not None):
            assert given is not None
            etas.append((at, at + given.eta if given.eta is not None else None))
    return etas


def _lies(scenario: Scenario, messages: list[SimulatedMessage]) -> list[str]:
    etas = _etas(scenario)
    found = []
    for m in messages:
        if not m.template.startswith("incident_"):
            continue
        in_force = [eta for since, eta in etas if since <= m.time]
        eta = in_force[-1] if in_force else None
        if eta is None or eta > m.time:
            continue
        said = " ".join(f"{m.summary} {m.text}".split()).lower()
        where = f"{m.time:%H:%M} {m.customer} {m.channel} {m.rule}"
        found += [f"{where}: {p!r}" for p in PLANS if p in said]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
async def test_no_sample_outage_states_a_passed_eta(tmp_path: Path, path: Path) -> None:
    scenario = load_scenario(path)
    messages = await simulate(_settings(tmp_path), scenario)
    assert messages, f"{path.name} sent nothing"
    assert _lies(scenario, messages) == []


async def test_the_update_after_a_missed_eta_owns_up(tmp_path: Path) -> None:
    path = tmp_path / "missed.toml"
    path.write_text(MISSED_NIGHT, encoding="utf-8")
    scenario = load_scenario(path)
    messages = await simulate(_settings(tmp_path), scenario)
    assert _lies(scenario, messages) == []
    updates = [m for m in messages if m.rule.startswith("incident-updated")]
    assert {(m.customer, m.channel) for m in updates} >= {("c-ny", "email"), ("c-paris", "email")}
    said = {m.customer: " ".join(m.text.split()) for m in updates if m.channel == "email"}
    assert "taking longer" in said["c-ny"] and "2:00" in said["c-ny"]
    assert "plus longtemps" in said["c-paris"] and "08h00" in said["c-paris"]
