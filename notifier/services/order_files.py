"""Files of order events: CSV or JSON Lines, read as (line number, fields), lazily.

CSV: a header naming `order_id` and `status` and any of the optional columns; an empty
cell means "not given". JSON Lines: one object per line with the same keys, null or
absent for "not given". A line that cannot be read becomes an ImportRowError in the
stream, so the caller reports it with the others and keeps going.
"""

from __future__ import annotations

import codecs
from collections.abc import Generator, Mapping
from pathlib import Path

from notifier.errors import ImportRowError, InputError
from notifier.services.import_files import csv_records, jsonl_objects

REQUIRED_COLUMNS = ("order_id", "status")
OPTIONAL_COLUMNS = ("customer_id", "promised_date", "carrier", "tracking", "note")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

Row = tuple[int, Mapping[str, object]]  # (line in the file, fields)
_SUFFIXES = (".csv", ".jsonl", ".ndjson")


def check_file(path: Path) -> None:
    """Refuse, before anything is written, a file of the wrong type or not in UTF-8.

    The whole file is decoded once, in chunks: finding a bad byte after half the events
    were recorded would leave a half import.
    """
    if path.suffix.lower() not in _SUFFIXES:
        raise InputError(
            f"{path}: unknown file type {path.suffix!r} (expected .csv, .jsonl or .ndjson)"
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    at = line + exc.object[: exc.start].count(b"\n")
                    raise InputError(
                        f"{path}: line {at}: not UTF-8 text; save it as UTF-8"
                    ) from None
                line += chunk.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text: the file ends inside a character") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from None


def read_rows(path: Path) -> Generator[Row | ImportRowError]:
    """The rows of a file that passed `check_file`."""
    if path.suffix.lower() == ".csv":
        return _csv_rows(path)
    return _jsonl_rows(path)


def _csv_rows(path: Path) -> Generator[Row | ImportRowError]:
    records = csv_records(
        path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS, expected=COLUMNS
    )
    for record in records:
        if isinstance(record, ImportRowError):
            yield record
            continue
        start, fields = record
        # An empty cell means "not given": the order keeps what it has.
        yield start, {k: v for k, v in fields.items() if v.strip()}


def _jsonl_rows(path: Path) -> Generator[Row | ImportRowError]:
    for item in jsonl_objects(path):
        if isinstance(item, ImportRowError):
            yield item
            continue
        number, value = item
        if unknown := sorted(key for key in value if key not in COLUMNS):
            yield ImportRowError(
                number,
                f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(COLUMNS)})",
            )
            continue
        yield number, {k: v for k, v in value.items() if v is not None}
