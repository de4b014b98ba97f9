"""Rule files for the time tests: each test states exactly the rules it exercises."""

from __future__ import annotations

from pathlib import Path

DECLARED_AND_RESOLVED = """
[[rule]]
name = "declared-email"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_declared"

[[rule]]
name = "resolved-email"
on = "incident.resolved"
audience = "affected"
channels = ["email"]
template = "incident_resolved"
"""

STILL_WORKING = """
[[rule]]
name = "still-working"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_still_working"
every = "4h"
until = "not incident.is_open"
"""

WATCHDOG = """
[[rule]]
name = "eta-near-operations"
on = "incident.eta_near"
audience = "operations"
channels = ["email"]
template = "ops_eta_near"

[[rule]]
name = "eta-passed-customers"
on = "incident.eta_passed"
audience = "affected"
channels = ["email"]
template = "incident_eta_passed"
"""

PROMISED_UPDATE = """
[[rule]]
name = "update-overdue-customers"
on = "incident.update_overdue"
audience = "affected"
channels = ["email"]
template = "incident_holding"

[[rule]]
name = "update-overdue-operations"
on = "incident.update_overdue"
audience = "operations"
channels = ["email"]
template = "ops_update_overdue"
"""


def rules_dir(tmp_path: Path, *texts: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "test.toml").write_text("\n".join(texts), encoding="utf-8")
    return folder
