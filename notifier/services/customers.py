"""Import customers from a CSV or JSON Lines file (or from rows the HTTP API received).

Files are streamed: rows are validated and written `batch_size` at a time, each batch in
its own transaction, so a file of millions of rows never sits in memory (only the set of
ids seen, to catch duplicates). A bad row is reported with its line and skipped; the
good rows around it are kept.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import (
    ALL_FIELDS,
    REQUIRED_FIELDS,
    Customer,
    customer_from_record,
    validate_locale,
    validate_timezone,
)
from notifier.errors import ImportRowError, InputError
from notifier.services.import_files import csv_records, jsonl_objects
from notifier.store.customers import upsert_customers

BATCH_SIZE = 1000
Row = tuple[int, Mapping[str, object]]  # (line number in the source, fields)
Parser = Callable[[Mapping[str, object]], Customer]
Progress = Callable[[int], None]  # told the rows read so far, after each batch


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = field(default_factory=list)


async def import_customers(
    engine: AsyncEngine,
    path: Path,
    *,
    default_region: str,
    default_locale: str,
    default_timezone: str,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Create or update the customers of `path` (.csv, .jsonl or .ndjson, UTF-8).

    CSV has the header `id,name,email,phone,locale,timezone,services[,opt_out]`; JSON
    Lines has one object per line with the same keys. `services` and `opt_out` are lists
    or `;`-separated strings. Phones without `+country` are read in `default_region`.

    Raises InputError, before anything is written, for an unknown extension, a file that
    is not UTF-8 (a BOM is fine) or a CSV header with missing or unknown columns. Rows
    are written in batches, one transaction each: if something fails midway (a CSV that
    cannot be parsed further, the database going away), the batches before stay written
    and re-running the import is safe, since it updates rather than duplicates.

    `progress`, if given, is called after each batch with the number of rows read so far.
    """
    readers = {".csv": _csv_rows, ".jsonl": _jsonl_rows, ".ndjson": _jsonl_rows}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"{path}: unknown file type {path.suffix!r} (expected .csv, .jsonl or .ndjson)"
        )
    parse = _parser(default_region, default_locale, default_timezone)
    # A pass over the bytes first: finding a bad byte after half the rows are written
    # would leave a half import. It reads in chunks, in a thread, without keeping anything.
    await asyncio.to_thread(_check_utf8, path)
    with closing(reader(path)) as rows:
        return await _import(engine, rows, parse, now, batch_size, progress)


async def import_rows(
    engine: AsyncEngine,
    rows: Iterable[Row | ImportRowError],
    *,
    default_region: str,
    default_locale: str,
    default_timezone: str,
    now: datetime,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Validate and write `(line, fields)` rows, as import_customers does for files.

    `rows` may also hold ImportRowErrors for rows its producer could not read: they go
    into the report as they are. A row without an `opt_out` key leaves the customer's
    opt-outs as they are; with one, import-made opt-outs become exactly those listed
    (opt-outs the customer made themselves are never lifted by an import).
    """
    parse = _parser(default_region, default_locale, default_timezone)
    return await _import(engine, rows, parse, now, batch_size)


def _parser(default_region: str, default_locale: str, default_timezone: str) -> Parser:
    """Check the defaults once, up front: a wrong default would fail every row."""
    if default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InputError(f"unknown default region {default_region!r} (expected e.g. US or FR)")
    try:
        locale, timezone = validate_locale(default_locale), validate_timezone(default_timezone)
    except ValueError as exc:
        raise InputError(f"default {exc}") from None
    return partial(
        customer_from_record,
        default_region=default_region.upper(),
        default_locale=locale,
        default_timezone=timezone,
    )


async def _import(
    engine: AsyncEngine,
    rows: Iterable[Row | ImportRowError],
    parse: Parser,
    now: datetime,
    batch_size: int,
    progress: Progress | None = None,
) -> ImportReport:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ImportReport()
    seen: dict[str, int] = {}  # id -> the line that first had it
    source = iter(rows)
    done = False
    while not done:
        # Reading and validating (phonenumbers, Babel) is CPU and file work: a thread keeps
        # the event loop free for the other tasks of the process (HTTP, dispatcher).
        synced, unsynced, done = await asyncio.to_thread(
            _take, source, batch_size, parse, seen, report.errors
        )
        if not (synced or unsynced):
            continue
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # asyncpg reuses prepared statements, and PostgreSQL may give them a generic
                # plan made while the first batches left the tables tiny (a scan): importing
                # into an empty database, batches went from 0.2 s to 4 s by 60k customers.
                await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
            for batch, sync in ((synced, True), (unsynced, False)):
                counts = await upsert_customers(conn, batch, now, sync_opt_outs=sync)
                report.created += counts.created
                report.updated += counts.updated
                report.unchanged += counts.unchanged
        if progress is not None:
            progress(report.created + report.updated + report.unchanged + len(report.errors))
    if progress is not None:  # the last rows may have been bad ones, in no batch
        progress(report.created + report.updated + report.unchanged + len(report.errors))
    return report


def _take(
    source: Iterator[Row | ImportRowError],
    size: int,
    parse: Parser,
    seen: dict[str, int],
    errors: list[ImportRowError],
) -> tuple[list[Customer], list[Customer], bool]:
    """Up to `size` valid customers, split by whether their row says anything about
    opt-outs; True once `source` is exhausted. Bad rows go to `errors`."""
    synced: list[Customer] = []
    unsynced: list[Customer] = []
    for item in source:
        if isinstance(item, ImportRowError):
            errors.append(item)
            continue
        line, record = item
        ident = record.get("id")
        ident = ident.strip() if isinstance(ident, str) else ""
        # Checked before validation: the same id twice is a mistake in the file even when
        # one of the two rows is also wrong in another way.
        if ident and (first := seen.setdefault(ident, line)) != line:
            errors.append(ImportRowError(line, f"duplicate id {ident!r} (first on line {first})"))
            continue
        try:
            customer = parse(record)
        except ValueError as exc:
            errors.append(ImportRowError(line, str(exc)))
            continue
        (synced if "opt_out" in record else unsynced).append(customer)
        if len(synced) + len(unsynced) >= size:
            return synced, unsynced, False
    return synced, unsynced, True


def _check_utf8(path: Path, chunk_size: int = 1 << 20) -> None:
    """Raise InputError naming the first byte that is not UTF-8, with its offset and line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    try:
        with path.open("rb") as file:
            while chunk := file.read(chunk_size):
                # The decoder may hold the start of a character cut by the chunk boundary:
                # error positions count from there.
                held = len(decoder.getstate()[0])
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    line = lines + exc.object[: exc.start].count(b"\n")
                    raise InputError(
                        f"{path}: not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at byte "
                        f"offset {offset - held + exc.start} (line {line}); save it as UTF-8"
                    ) from None
                offset += len(chunk)
                lines += chunk.count(b"\n")
            held = len(decoder.getstate()[0])
            if held:
                raise InputError(
                    f"{path}: not UTF-8 text: the file ends inside a character at byte "
                    f"offset {offset - held}"
                )
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from None


def _csv_rows(path: Path) -> Generator[Row | ImportRowError]:
    """(line, fields) per CSV record; line is where the record starts, the header is 1."""
    yield from csv_records(
        path,
        required=REQUIRED_FIELDS,
        optional=[f for f in ALL_FIELDS if f not in REQUIRED_FIELDS],
        expected=REQUIRED_FIELDS,
    )


def _jsonl_rows(path: Path) -> Generator[Row | ImportRowError]:
    """(line, object) per non-blank line of a JSON Lines file."""
    yield from jsonl_objects(path)
