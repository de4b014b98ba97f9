"""Reading customer files: line numbers, encodings, headers, JSON types, batches.

`engine` (tests/conftest.py) is a migrated engine on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import ImportRowError, InputError
from notifier.services.customers import _check_utf8, import_customers, import_rows
from notifier.store.customers import get_customer, search_customers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULTS = {"default_region": "US", "default_locale": "en", "default_timezone": "America/New_York"}
HEADER = "id,name,email,phone,locale,timezone,services"


async def all_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [c.id for c in await search_customers(conn, "", limit=1000)]


def errors(report_errors: list[ImportRowError]) -> list[tuple[int, str]]:
    return [(e.line, e.reason) for e in report_errors]


async def test_csv_line_numbers_count_physical_lines(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        "\ufeff"  # a BOM, as Excel writes it
        f"{HEADER}\r\n"
        'c1,"Alice\r\nMartin\r\n",a@example.com,,,,radio\r\n'  # one record on lines 2-4
        "c2,Bob,bob@example,,,,radio\r\n"  # line 5
        "\r\n"  # line 6: blank
        ",,,,,,\r\n"  # line 7: only commas
        "c3,Carla,c@example.com,,,,radio;web\r\n"  # line 8
        "c4,Too,few\r\n"  # line 9
        'c5,"Quote ""inside""",d@example.com,,,,radio\r\n'.encode()  # line 10
    )
    report = await import_customers(engine, path, now=NOW, **DEFAULTS)

    assert errors(report.errors) == [
        (2, "name contains a control character (line break, tab...)"),
        (5, "invalid email 'bob@example': the domain needs a dot between non-empty names"),
        (9, "expected 7 fields like the header, found 3"),
    ]
    assert await all_ids(engine) == ["c3", "c5"]
    assert str(report.errors[0]) == "line 2: name contains a control character (line break, tab...)"


async def test_header_is_case_and_space_insensitive(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(" ID ,Name,EMAIL,phone,locale,timezone,services, Opt_Out\nc1,A,,,,,x,SMS\n")
    report = await import_customers(engine, path, now=NOW, **DEFAULTS)
    assert (report.created, report.errors) == (1, [])
    async with engine.connect() as conn:
        assert (await get_customer(conn, "c1")).opt_outs == {"sms"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,name,services", "missing column(s) email, phone, locale, timezone"),
        (f"{HEADER},fax", "unknown column(s) 'fax'"),
        (f"{HEADER},", "unknown column(s) ''"),
        (f"{HEADER},id", "repeated column(s) id"),
        ("id;name;email;phone;locale;timezone;services", "missing column(s) id, name"),
    ],
)
async def test_bad_header_refuses_the_file(
    engine: AsyncEngine, tmp_path: Path, header: str, message: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{header}\nc1,A,,,,,radio\n")
    with pytest.raises(InputError, match="CSV header has") as caught:
        await import_customers(engine, path, now=NOW, **DEFAULTS)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert await all_ids(engine) == []


async def test_empty_csv(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("")
    with pytest.raises(InputError, match="no CSV header"):
        await import_customers(engine, path, now=NOW, **DEFAULTS)


async def test_non_utf8_file_is_refused_before_anything_is_written(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    good = f"{HEADER}\nc1,Alice,a@example.com,,,,radio\n".encode()
    path.write_bytes(good + "c2,Hugo Lefèvre,,,,,radio\n".encode("latin-1"))
    offset = len(good) + len("c2,Hugo Lef")

    with pytest.raises(InputError) as caught:
        await import_customers(engine, path, now=NOW, **DEFAULTS)

    assert str(caught.value) == (
        f"{path}: not UTF-8 text: byte 0xe8 at byte offset {offset} (line 3); save it as UTF-8"
    )
    assert await all_ids(engine) == []


def test_utf8_check_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    text = "é€😀\nçà\n".encode()
    path.write_bytes(text)
    for size in (1, 2, 3, 5, 1 << 20):
        _check_utf8(path, chunk_size=size)  # multi-byte characters cut by chunks are fine
        path.write_bytes(text + b"ok\xff\n")
        with pytest.raises(InputError, match=rf"0xff at byte offset {len(text) + 2} \(line 3\)"):
            _check_utf8(path, chunk_size=size)
        path.write_bytes(text + "€".encode()[:2])
        with pytest.raises(
            InputError, match=rf"ends inside a character at byte offset {len(text)}"
        ):
            _check_utf8(path, chunk_size=size)
        path.write_bytes(text)


@pytest.mark.parametrize(
    ("name", "message"),
    [("customers.xlsx", "unknown file type '.xlsx'"), ("missing.csv", "cannot read the file")],
)
async def test_unreadable_files(
    engine: AsyncEngine, tmp_path: Path, name: str, message: str
) -> None:
    if name.endswith("xlsx"):
        (tmp_path / name).write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError, match=message):
        await import_customers(engine, tmp_path / name, now=NOW, **DEFAULTS)


async def test_jsonl_types_and_line_numbers(engine: AsyncEngine, tmp_path: Path) -> None:
    rows: list[object] = [
        {"id": "j1", "name": "Ok", "services": ["radio"], "opt_out": "sms; EMAIL"},
        {"id": 7, "name": "Number id", "services": "radio"},
        {"id": "j3", "name": "Bad services", "services": {"radio": True}},
        ["not", "an", "object"],
        {"id": "j5", "name": "Bad list", "services": ["radio", 3]},
        {"id": "j6", "name": "Fax", "opt_out": ["fax"], "locale": "xx", "timezone": "Mars/Base"},
        {"id": "j7", "name": "Typo", "phone_number": "+12015550123"},
        {"id": "j1", "name": "Twice"},
        {"id": "j9", "name": None},
    ]
    path = tmp_path / "c.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8-sig")

    report = await import_customers(engine, path, now=NOW, **DEFAULTS)

    assert errors(report.errors) == [
        (2, "id must be a string, got number"),
        (3, "services must be a list or a ';'-separated string, got object"),
        (4, "expected a JSON object, got array"),
        (5, "services must hold strings only"),
        (
            6,
            "unknown locale 'xx'; unknown timezone 'Mars/Base'; "
            "unknown opt_out channel 'fax' (expected email, sms or whatsapp)",
        ),
        (7, "unknown field(s) 'phone_number'"),
        (8, "duplicate id 'j1' (first on line 1)"),
        (9, "missing name"),
    ]
    async with engine.connect() as conn:
        assert (await get_customer(conn, "j1")).opt_outs == {"sms", "email"}


async def test_import_rows_in_batches(engine: AsyncEngine) -> None:
    def row(ident: str, **extra: object) -> dict[str, object]:
        return {"id": ident, "name": ident.upper(), "services": "radio"} | extra

    source: list[tuple[int, Mapping[str, object]] | ImportRowError] = [
        (1, row("a", opt_out="sms")),
        (2, row("b")),
        ImportRowError(3, "could not be read"),
        (4, row("c", email="nope")),
        (5, row("a")),  # a duplicate in a later batch
        (6, row("d")),
        (7, row("e")),
    ]
    report = await import_rows(engine, source, now=NOW, batch_size=2, **DEFAULTS)

    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    assert [e.line for e in report.errors] == [3, 4, 5]
    assert await all_ids(engine) == ["a", "b", "d", "e"]

    # No opt_out key: opt-outs stay. An empty one: the import's own opt-outs are lifted.
    again = await import_rows(engine, [(1, row("a"))], now=NOW, **DEFAULTS)
    assert again.unchanged == 1
    async with engine.connect() as conn:
        assert (await get_customer(conn, "a")).opt_outs == {"sms"}
    await import_rows(engine, [(1, row("a", opt_out=""))], now=NOW, **DEFAULTS)
    async with engine.connect() as conn:
        assert (await get_customer(conn, "a")).opt_outs == frozenset()


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"default_region": "XX"}, "unknown default region 'XX'"),
        ({"default_locale": "xx"}, "default unknown locale 'xx'"),
        ({"default_timezone": "Mars/Base"}, "default unknown timezone 'Mars/Base'"),
    ],
)
async def test_bad_defaults(engine: AsyncEngine, defaults: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        await import_rows(engine, [], now=NOW, **(DEFAULTS | defaults))
