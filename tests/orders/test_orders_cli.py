"""`notifier order`, `orders` and `sources`: JSON out, bad input one line with exit 2."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from notifier.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp_path
        self.db = tmp_path / "cli.db"
        self.config = tmp_path / "config.toml"
        # Recording orders renders nothing, and compiling every shipped template would be
        # most of each command's time: the order rules only, and no templates.
        self.rules = tmp_path / "rules"
        self.rules.mkdir()
        shutil.copy(ROOT / "rules" / "orders.toml", self.rules)
        self.templates = tmp_path / "templates"
        self.templates.mkdir()
        self.write_config("")
        self._capsys = capsys

    def write_config(self, extra: str) -> None:
        self.config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{self.db}"\n'
            f'[paths]\nrules = "{self.rules}"\ntemplates = "{self.templates}"\n{extra}'
        )

    def run(self, *args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(self.config), *args])
        out, err = self._capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), out, err

    def json(self, *args: str) -> dict[str, Any]:
        code, out, err = self.run(*args, "--json")
        assert code == 0, err
        data = json.loads(out)
        assert isinstance(data, dict)
        return data

    def fails(self, expected: str, *args: str) -> None:
        code, _, err = self.run(*args)
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
        assert "Traceback" not in err

    def count(self, table: str) -> int:
        with sqlite3.connect(self.db) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    cli = Cli(tmp_path, capsys)
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "id,name,email,phone,locale,timezone,services\n"
        "c-1,Ann,ann@example.com,+12015550123,en,America/New_York,\n"
    )
    assert cli.run("customers", "import", str(customers))[0] == 0
    return cli


def test_event_show_and_a_repeat(cli: Cli) -> None:
    first = cli.json(
        "order",
        "event",
        "A-1",
        "--status",
        "shipped",
        "--customer",
        "c-1",
        "--promised-date",
        "2030-03-04",
        "--carrier",
        "UPS",
        "--tracking",
        "1Z",
    )
    assert (first["id"], first["status"], first["ignored"], first["event_id"]) == (
        "A-1",
        "shipped",
        False,
        1,
    )
    assert first["promised_by"] == "2030-03-05T05:00:00+00:00"
    again = cli.json("order", "event", "A-1", "--status", "shipped")
    assert (again["ignored"], again["event_id"]) == (True, None)
    cli.json(
        "order",
        "event",
        "A-1",
        "--status",
        "delayed",
        "--promised-date",
        "2030-03-06",
        "--note",
        "Storm",
    )
    shown = cli.json("order", "show", "A-1")
    assert [(h["status"], h["promised_date"], h["note"]) for h in shown["history"]] == [
        ("shipped", "2030-03-04", None),
        ("delayed", "2030-03-06", "Storm"),
    ]
    code, out, _ = cli.run("order", "show", "A-1")
    assert code == 0 and "order A-1 (delayed, promised 2030-03-06, UPS 1Z)" in out
    listed = cli.json("orders", "list", "--open")
    assert [o["id"] for o in listed["orders"]] == ["A-1"]


def test_bad_input_is_one_line_and_writes_nothing(cli: Cli) -> None:
    cli.json("order", "event", "A-1", "--status", "delivered", "--customer", "c-1")
    events = cli.count("events")
    cli.fails(
        "order 'A-1' cannot go from 'delivered' to 'placed' (allowed from 'delivered': returned)",
        "order",
        "event",
        "A-1",
        "--status",
        "placed",
    )
    cli.fails(
        "customer 'nobody' does not exist",
        "order",
        "event",
        "B-1",
        "--status",
        "placed",
        "--customer",
        "nobody",
    )
    cli.fails(
        "customer_id: needed for the first event of order 'B-1'",
        "order",
        "event",
        "B-1",
        "--status",
        "placed",
    )
    cli.fails(
        "promised_date: 'tomorrow' is not a date (YYYY-MM-DD)",
        "order",
        "event",
        "B-1",
        "--status",
        "placed",
        "--customer",
        "c-1",
        "--promised-date",
        "tomorrow",
    )
    cli.fails("status: 'lost' is not one of", "order", "event", "B-1", "--status", "lost")
    cli.fails("order 'B-1' does not exist", "order", "show", "B-1")
    cli.fails("Missing option '--status'", "order", "event", "B-1")
    assert cli.count("events") == events


def test_import_keeps_the_good_lines_and_exits_2(cli: Cli) -> None:
    path = cli.tmp / "events.csv"
    path.write_text(
        "order_id,status,customer_id\nA-1,placed,c-1\nA-2,placed,nobody\nA-1,shipped,\n"
    )
    code, out, _ = cli.run("orders", "import", str(path), "--json")
    assert code == 2
    report = json.loads(out)
    assert (report["recorded"], report["errors"]) == (
        2,
        [{"line": 3, "reason": "customer 'nobody' does not exist"}],
    )
    assert cli.count("order_events") == 2


def test_sources_poll_once(cli: Cli) -> None:
    cli.fails("no sources: add a [[sources]] table", "sources", "poll", "--once")
    shop = cli.tmp / "shop.db"
    with sqlite3.connect(shop) as db:
        db.execute("CREATE TABLE orders (id TEXT, state TEXT, customer TEXT, changed TEXT)")
        db.execute("INSERT INTO orders VALUES ('S-1', 'placed', 'c-1', '2026-03-01 10:00:00')")
    cli.write_config(
        "[[sources]]\n"
        'name = "shop"\n'
        f'url = "sqlite+aiosqlite:///{shop}"\n'
        'table = "orders"\n'
        'start = "beginning"\n'
        "[sources.columns]\n"
        'status = "state"\ncustomer = "customer"\nupdated_at = "changed"\n'
        'promised_date = ""\ncarrier = ""\ntracking = ""\n'
    )
    polled = cli.json("sources", "poll", "--once")
    assert polled["sources"] == [
        {"name": "shop", "read": 1, "recorded": 1, "ignored": 0, "skipped": 0, "error": None}
    ]
    assert cli.json("sources", "poll", "--once")["sources"][0]["read"] == 0
    shop.rename(cli.tmp / "gone.db")
    cli.fails("source 'shop': unable to open database file", "sources", "poll", "--once")
    assert not shop.exists()  # read-only: a missing shop database is never created
