"""`rules simulate` errors found while a scenario runs name the file and the line.

Every kind of mistake a rehearsal can hold: an unknown customer, an incident never
declared, an illegal order move, resolving twice, a bad customer (inline or in the
customers file); a zero duration is a value, not "not given"; an event after the horizon
is refused, not run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.cli.main import main
from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.errors import ScenarioError
from notifier.runtime.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]

CUSTOMER = """horizon = "+2h"

[[customers]]
id = "c-1"
name = "Ann Lee"
email = "ann@example.com"
timezone = "America/New_York"
services = ["r"]
"""
DECLARE = """
[[events]]
at = "+0m"
declare = { title = "Outage", severity = "major", affects = ["r"] }
"""
PLACE = """
[[events]]
at = "+0m"
order = { id = "A-1", status = "placed", customer = "c-1" }
"""

# (what follows CUSTOMER, the line of the table at fault, what the error says)
MISTAKES = {
    "unknown customer": (
        '\n[[events]]\nat = "+0m"\norder = { id = "A-1", status = "placed", customer = "c-9" }\n',
        10,
        "c-9",
    ),
    "incident never declared": (
        DECLARE + '\n[[events]]\nat = "+1m"\nupdate = { incident = 2, message = "x" }\n',
        14,
        "incident 2 has not been declared",
    ),
    "illegal order move": (
        PLACE + '\n[[events]]\nat = "+1m"\norder = { id = "A-1", status = "returned" }\n',
        14,
        "'placed' to 'returned'",
    ),
    "resolved twice": (
        DECLARE
        + '\n[[events]]\nat = "+1m"\nresolve = { incident = 1, cause = "x" }\n'
        + '\n[[events]]\nat = "+2m"\nresolve = { incident = 1, cause = "x" }\n',
        18,
        "resolved",
    ),
    "a zero ETA is a value (the CLI refuses it too)": (
        '\n[[events]]\nat = "+0m"\n'
        'declare = { title = "T", severity = "major", affects = ["r"], eta = "+0m" }\n',
        10,
        "eta",
    ),
}


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )


@pytest.mark.parametrize("mistake", list(MISTAKES))
async def test_a_runtime_error_names_the_file_and_line(tmp_path: Path, mistake: str) -> None:
    events, line, says = MISTAKES[mistake]
    path = tmp_path / "night.toml"
    path.write_text(CUSTOMER + events, "utf-8")
    assert path.read_text().splitlines()[line - 1] == "[[events]]"
    with pytest.raises(ScenarioError) as info:
        await simulate(_settings(tmp_path), load_scenario(path))
    assert str(info.value).startswith(f"{path}:{line}: events["), str(info.value)
    assert says in str(info.value)


async def test_a_bad_inline_customer_names_its_table(tmp_path: Path) -> None:
    path = tmp_path / "night.toml"
    text = CUSTOMER + '\n[[customers]]\nid = "c-2"\nname = "B"\nphone = "12"\n' + DECLARE
    path.write_text(text, "utf-8")
    with pytest.raises(ScenarioError) as info:
        await simulate(_settings(tmp_path), load_scenario(path))
    assert str(info.value).startswith(f"{path}:10: customers[2]: "), str(info.value)


async def test_a_bad_row_of_the_customers_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "id,name,email,phone,locale,timezone,services\n"
        "c-1,Ann,ann@example.com,,en,UTC,r\n"
        "c-2,Ben,not-an-address,,en,UTC,r\n",
        "utf-8",
    )
    path = tmp_path / "night.toml"
    path.write_text('horizon = "+1h"\ncustomers_file = "people.csv"\n' + DECLARE, "utf-8")
    with pytest.raises(ScenarioError) as info:
        await simulate(_settings(tmp_path), load_scenario(path))
    assert str(info.value).startswith(f"{tmp_path / 'people.csv'}:3: "), str(info.value)


async def test_a_zero_next_update_is_a_value_refused_as_the_cli_does(tmp_path: Path) -> None:
    path = tmp_path / "night.toml"
    path.write_text(
        CUSTOMER
        + '\n[[events]]\nat = "+0m"\n'
        + 'declare = { title = "T", severity = "major", affects = ["r"], next_update = "+0m" }\n',
        "utf-8",
    )
    with pytest.raises(ScenarioError) as info:
        await simulate(_settings(tmp_path), load_scenario(path))
    assert str(info.value).startswith(f"{path}:10: events[1]"), str(info.value)


def test_an_event_after_the_horizon_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "night.toml"
    path.write_text(
        CUSTOMER + DECLARE + '\n[[events]]\nat = "+3h"\nresolve = { incident = 1, cause = "x" }\n',
        "utf-8",
    )
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "simulate", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {path}:14: events[2].at: +3h00m is after the horizon"), err
