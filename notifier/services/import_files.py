"""What every import file shares, customers and orders alike: the CSV header check and the
JSON Lines reader, so both kinds of file are refused and reported the same way."""

from __future__ import annotations

import csv
import json
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from notifier.domain.customers import json_type
from notifier.errors import ImportRowError, InputError

JsonRow = tuple[int, dict[str, Any]]


def check_header(
    path: Path, columns: list[str], *, required: Sequence[str], optional: Sequence[str]
) -> None:
    """Refuse a CSV header with missing, unknown or repeated columns, naming them."""
    known = {*required, *optional}
    problems = []
    if missing := [name for name in required if name not in columns]:
        problems.append("missing column(s) " + ", ".join(missing))
    if unknown := [name for name in columns if name not in known]:
        problems.append("unknown column(s) " + ", ".join(map(repr, unknown)))
    if repeated := sorted({name for name in columns if columns.count(name) > 1}):
        problems.append("repeated column(s) " + ", ".join(repeated))
    if problems:
        raise InputError(
            f"{path}: CSV header has {'; '.join(problems)} (expected {','.join(required)}"
            f" and optionally {','.join(optional)})"
        )


def jsonl_objects(path: Path) -> Generator[JsonRow | ImportRowError]:
    """(line, object) per non-blank line of a JSON Lines file, or the line's error."""
    # newline="\n": lines are counted as the UTF-8 check counts them; a stray \r is only
    # JSON whitespace.
    with path.open(encoding="utf-8-sig", newline="\n") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ImportRowError(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield ImportRowError(number, f"expected a JSON object, got {json_type(value)}")
                continue
            yield number, value


CsvRow = tuple[int, dict[str, str]]


def csv_records(
    path: Path, *, required: Sequence[str], optional: Sequence[str], expected: Sequence[str]
) -> Generator[CsvRow | ImportRowError]:
    """(line, fields) per CSV record, or the record's error; the header is line 1 and a
    record's line is where it starts (a quoted field may span lines). Blank records are
    skipped. `expected` names the columns in the message for a file with no header."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            raise InputError(f"{path}: no CSV header (expected {','.join(expected)})") from None
        columns = [name.strip().lower() for name in header]
        check_header(path, columns, required=required, optional=optional)
        end = reader.line_num
        while True:
            start = end + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"{path}, line {start}: unreadable CSV ({exc})") from None
            end = reader.line_num
            if not any(value.strip() for value in values):
                continue  # blank line, or only commas
            if len(values) != len(columns):
                yield ImportRowError(
                    start, f"expected {len(columns)} fields like the header, found {len(values)}"
                )
                continue
            yield start, dict(zip(columns, values, strict=True))
