"""`rules simulate` models the providers' capacity on its virtual clock: a rehearsal shows
the times the paced fan-out will take."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.runtime.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
XM = ROOT / "scenarios" / "xm-outage.toml"


async def test_a_simulation_paces_sms_at_the_capacity(tmp_path: Path) -> None:
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'configured.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
        sms={"capacity": {"rate": 0.1}},  # a segment every 10 s
    )
    scenario = load_scenario(XM)
    messages = await simulate(settings, scenario)
    declared = [m for m in messages if m.rule == "incident-declared-sms"]
    assert len(declared) == 6
    # Each waits for the segments before it to have had their 10 s each (burst 1).
    gaps = [b.time - a.time for a, b in itertools.pairwise(declared)]
    assert all(gap >= timedelta(seconds=10) for gap in gaps), gaps
    # Email is not paced: every declaration email at once.
    emails = {m.time for m in messages if m.rule == "incident-declared-email"}
    assert len(emails) == 1
