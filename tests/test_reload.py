"""Reloading rules and templates: a broken file is refused and the last good set stays live."""

from __future__ import annotations

import shutil
from pathlib import Path

from notifier.config import Settings
from notifier.domain.messages import ChannelName
from notifier.runtime.app import App

ROOT = Path(__file__).resolve().parent.parent


async def test_a_broken_edit_keeps_the_last_good_rules_and_templates(tmp_path: Path) -> None:
    rules, templates = tmp_path / "rules", tmp_path / "templates"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(ROOT / "templates", templates)
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"},
        paths={"rules": rules, "templates": templates},
    )
    app = await App.open(settings)
    try:
        before = len(app.rules.current.rules)
        (rules / "extra.toml").write_text('[[rule]]\nname = "half-written"\n')
        sms = templates / "incident_declared" / "sms.en.j2"
        good_sms = sms.read_text()
        sms.write_text("{% if %}")
        errors = app.reload()
        assert any("extra.toml" in e for e in errors)
        assert any("sms.en.j2" in e for e in errors)
        assert len(app.rules.current.rules) == before
        assert app.templates.current.source("incident_declared", ChannelName.SMS, "en") == good_sms

        (rules / "extra.toml").unlink()
        sms.write_text("New wording: {{ incident.title }}")
        assert app.reload() == []
        assert app.templates.current.source("incident_declared", ChannelName.SMS, "en") == (
            "New wording: {{ incident.title }}"
        )
    finally:
        await app.close()
