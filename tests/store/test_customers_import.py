"""Importing customer files end to end, on SQLite and PostgreSQL (fixture `engine`).

The file-format details (line numbers, encodings, headers) are in
tests/services/test_customer_import.py; this checks what reaches each database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName
from notifier.services.customers import ImportReport, import_customers
from notifier.store.customers import count_affected, get_customer, search_customers
from notifier.store.tables import customers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULTS = {"default_region": "US", "default_locale": "en", "default_timezone": "America/New_York"}
DEMO = Path(__file__).parents[2] / "notifier" / "demo_data" / "customers.csv"

CSV = """\
id,name,email,phone,locale,timezone,services,opt_out
c1,Alice Martin,alice@Example.COM,(201) 555-0123,,,radio;web,
c2,Hugo Lefèvre,hugo@example.fr,+33 6 12 34 56 78,fr-FR,Europe/Paris,radio,sms
c3,,nobody@example.com,,,,radio,
c4,Bad Phone,bad@example.com,12345,en,,radio,
c5,"Carla ""CJ"" Gomez",,+1 415 555 0132,en_US,America/Los_Angeles,web,
c1,Alice Again,alice2@example.com,,,,radio,
"""

JSONL = [
    {
        "id": "j1",
        "name": "Julien",
        "email": "j@example.fr",
        "phone": "06 12 34 56 78",
        "locale": "fr",
        "timezone": "Europe/Paris",
        "services": ["radio", "web"],
        "opt_out": [],
    },
    {"id": "j2", "name": "Karen", "email": "k@example", "phone": "", "services": "radio"},
    {
        "id": "j3",
        "name": "Luis",
        "email": None,
        "phone": "+12135550188",
        "services": "tv",
        "opt_out": ["email"],
    },
]


async def stored_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(customers)) or 0)


async def test_csv_import_keeps_good_rows_and_reports_bad_ones(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")

    report = await import_customers(engine, path, now=NOW, **DEFAULTS)

    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert [(e.line, e.reason) for e in report.errors] == [
        (4, "missing name"),
        (5, "invalid phone number '12345': too short for a US number (it has no +country code)"),
        (7, "duplicate id 'c1' (first on line 2)"),
    ]
    async with engine.connect() as conn:
        alice = await get_customer(conn, "c1")
        hugo = await get_customer(conn, "c2")
        carla = await get_customer(conn, "c5")
    assert alice == Customer(
        id="c1",
        name="Alice Martin",
        email="alice@example.com",
        phone="+12015550123",
        locale="en",
        timezone="America/New_York",
        services=frozenset({"radio", "web"}),
        opt_outs=frozenset(),
    )
    assert (hugo.phone, hugo.locale, hugo.timezone, hugo.opt_outs) == (
        "+33612345678",
        "fr_FR",
        "Europe/Paris",
        {"sms"},
    )
    assert hugo.can_receive(ChannelName.SMS, "phone") == (False, "opted out of sms")
    assert (carla.name, carla.email, carla.phone) == ('Carla "CJ" Gomez', None, "+14155550132")


async def test_reimport_updates_and_never_duplicates(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    await import_customers(engine, path, now=NOW, **DEFAULTS)

    again = await import_customers(engine, path, now=NOW + timedelta(hours=1), **DEFAULTS)
    assert (again.created, again.updated, again.unchanged, len(again.errors)) == (0, 0, 3, 3)

    # Hugo withdraws his SMS opt-out in the CRM, Alice moves, Carla leaves the file.
    changed = CSV.replace("radio,sms", "radio,").replace("(201) 555-0123", "+1 212 555 0199")
    path.write_text(
        changed.replace(
            'c5,"Carla ""CJ"" Gomez",,+1 415 555 0132,en_US,America/Los_Angeles,web,\n', ""
        ),
        encoding="utf-8",
    )
    report = await import_customers(engine, path, now=NOW + timedelta(hours=2), **DEFAULTS)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    assert await stored_count(engine) == 3  # an import never deletes
    async with engine.connect() as conn:
        assert (await get_customer(conn, "c1")).phone == "+12125550199"
        assert (await get_customer(conn, "c2")).opt_outs == frozenset()


async def test_jsonl_import(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "customers.jsonl"
    lines = [json.dumps(JSONL[0]), "", json.dumps(JSONL[1]), "{not json", json.dumps(JSONL[2])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = await import_customers(
        engine,
        path,
        now=NOW,
        default_region="FR",
        default_locale="fr",
        default_timezone="Europe/Paris",
    )

    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "invalid email 'k@example': the domain needs a dot between non-empty names"),
        (4, "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ]
    async with engine.connect() as conn:
        julien = await get_customer(conn, "j1")
        luis = await get_customer(conn, "j3")
    assert (julien.phone, julien.services) == ("+33612345678", {"radio", "web"})
    assert (luis.email, luis.phone, luis.locale, luis.opt_outs) == (
        None,
        "+12135550188",
        "fr",
        {"email"},
    )


async def test_demo_data_imports_cleanly(engine: AsyncEngine) -> None:
    report = await import_customers(engine, DEMO, now=NOW, **DEFAULTS)

    assert report == ImportReport(created=12)
    async with engine.connect() as conn:
        assert await count_affected(conn, ["satellite-radio"]) == 8
        assert await count_affected(conn, ["satellite-radio", "online-streaming"]) == 11
        french = [c for c in await search_customers(conn, "example.fr")]
        no_phone = [c for c in await search_customers(conn, "") if c.phone is None]
        no_sms = [c for c in await search_customers(conn, "") if "sms" in c.opt_outs]
    assert {c.locale for c in french} == {"fr"}
    assert all(c.phone and c.phone.startswith("+33") for c in french)
    assert len(no_phone) == 1 and len(no_sms) == 1
