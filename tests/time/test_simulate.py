"""`notifier rules simulate`: the real engine over a scenario, in virtual time."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from notifier.cli.main import main
from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.errors import ScenarioError
from notifier.runtime.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
XM = ROOT / "scenarios" / "xm-outage.toml"


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'configured.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )


async def test_the_xm_scenario_sends_what_the_rules_say(tmp_path: Path) -> None:
    messages = await simulate(_settings(tmp_path), load_scenario(XM))
    by_slot = Counter((f"{m.time:%H:%M}", m.channel, m.rule) for m in messages)
    assert by_slot == {
        ("02:10", "email", "incident-declared-email"): 8,  # every affected subscriber
        ("02:10", "sms", "incident-declared-sms"): 6,  # less one opted out, one without phone
        # 4h follow-up: night in America, so only Paris (07:00 UTC = 08:00) gets it then...
        ("07:00", "email", "still-working"): 2,
        # ...8h: the Paris pair again; America is still asleep and later gets the real update.
        ("10:10", "email", "still-working"): 2,
        ("12:30", "email", "incident-updated-email"): 8,
        ("12:30", "sms", "incident-updated-sms"): 6,  # the ETA slipped: worth a text
        ("14:10", "email", "still-working"): 6,  # Los Angeles is still before 08:00...
        ("16:00", "email", "still-working"): 2,  # ...and gets it at its 08:00
        ("18:10", "email", "still-working"): 8,
        ("18:55", "email", "incident-resolved-email"): 8,
        ("18:55", "sms", "incident-resolved-sms"): 6,
    }
    assert messages == sorted(messages, key=lambda m: m.time)
    first_to = {m.customer: m.summary for m in reversed(messages) if m.channel == "email"}
    assert first_to["c-1008"] == "Satellite radio signal outage : nous nous en occupons"
    assert first_to["c-1001"] == "Satellite radio signal outage: we're working on it"
    assert not (tmp_path / "configured.db").exists()  # the configured database is untouched


def test_simulate_prints_one_json_object_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "x.db"}"\n'
        f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
    )
    monkeypatch.setenv("NOTIFIER_CONFIG", str(config))
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "simulate", str(XM), "--json"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"time", "customer", "channel", "rule", "template", "summary"}
    assert len(lines) == 62


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "horizon = '+1h'\n[[events]]\nat = '+0m'\n"
            "declare = { title = 'T', severity = 'major', affects = ['x'] }\n",
            ":1: give [[customers]] or customers_file",
        ),
        (
            "horizon = '+1h'\ncustomers_file = 'c.csv'\n\n[[events]]\nat = '+0m'\n"
            "declare = { title = 'T', severity = 'huge', affects = ['x'] }\n",
            ":4: events[1].declare.severity: Input should be 'minor', 'major' or 'critical'",
        ),
        (
            "horizon = '+1h'\ncustomers_file = 'c.csv'\n[[events]]\nat = '+0m'\n"
            "declare = { title = 'T', severity = 'major', affects = ['x'] }\n\n"
            "[[events]]\nat = '+1h'\n",
            ":7: events[2]: give exactly one of declare, update, resolve",
        ),
        ("horizon = '+1h'\n[[events]\n", "(at line 2, column 9)"),
        (
            "horizon = '1h'\ncustomers_file = 'c.csv'\n[[events]]\nat='+0m'\n",
            "horizon: Value error",
        ),
    ],
)
def test_scenario_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_a_bad_scenario_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("horizon = '+1h'\n[[events]]\nat = 'tomorrow'\n")
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "simulate", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}:2: events[1].at")


async def test_orders_delayed_together_are_one_message_in_the_simulation(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "orders-storm.toml")
    messages = await simulate(_settings(tmp_path), scenario)
    assert [(m.channel, m.template, m.summary.split(".")[0]) for m in messages] == [
        ("email", "order_shipped", "Your order A-100 is on its way"),
        ("email", "digest", "Your order A-100 is delayed (+2 more)"),
        ("sms", "digest", "Example Co: 3 updates"),
    ]
    # The window (grouping.window, 2 minutes) starts with the first delay.
    assert f"{messages[1].time:%H:%M}" == "13:02"
