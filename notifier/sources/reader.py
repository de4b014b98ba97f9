"""Reading a shop's database: the rows past a mark, in mark order, and nothing else.

The source is someone else's database, so it is opened read-only (SQLite `mode=ro`, which
also refuses to create a missing file; PostgreSQL `default_transaction_read_only`) with a
connection per read: polls are seconds apart, and a connection kept between them would
hide a database that went away (an open SQLite file survives being moved).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from notifier.errors import NotifierError
from notifier.source_settings import SourceSettings


class SourceUnavailable(NotifierError, ConnectionError):
    """The source cannot be read now (down, file gone, table missing); try again later."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of the source, by role (the names of SourceColumns); None: absent or NULL."""

    values: dict[str, Any]
    mark: list[Any]  # JSON values of the mark columns: where the next read starts


class SourceReader:
    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        columns = settings.columns.model_dump()
        self._roles: dict[str, str] = {role: name for role, name in columns.items() if name}
        # (updated_at, id) and not updated_at alone: rows sharing a timestamp are neither
        # skipped nor read twice.
        self._key_roles = ["updated_at", "id"] if settings.mark == "updated_at" else ["id"]
        self._engine = _engine(settings.url)

    async def rows_after(self, mark: list[Any] | None, limit: int) -> list[SourceRow]:
        """Up to `limit` rows past `mark` (from the first row if None), in mark order."""
        source = self._source()
        keys = [source.c[self._roles[role]] for role in self._key_roles]
        query = (
            sa.select(*(source.c[name].label(role) for role, name in self._roles.items()))
            # A row without a mark value cannot be placed in the order: it is never read.
            .where(*(key.is_not(None) for key in keys))
            .order_by(*keys)
            .limit(limit)
        )
        if mark is not None:
            after = [_param(decode(value)) for value in mark]
            query = query.where(sa.tuple_(*keys) > sa.tuple_(*after))
        rows = await self._fetch(query)
        return [
            SourceRow(dict(row._mapping), [encode(row._mapping[r]) for r in self._key_roles])
            for row in rows
        ]

    async def last_mark(self) -> list[Any] | None:
        """The mark of the source's latest row, or None if it has none."""
        source = self._source()
        keys = [source.c[self._roles[role]] for role in self._key_roles]
        query = (
            sa.select(*keys)
            .where(*(key.is_not(None) for key in keys))
            .order_by(*(key.desc() for key in keys))
            .limit(1)
        )
        rows = await self._fetch(query)
        return [encode(value) for value in rows[0]] if rows else None

    async def close(self) -> None:
        await self._engine.dispose()

    def _source(self) -> sa.FromClause:
        columns: list[sa.ColumnClause[Any]] = [
            sa.column(name) for name in sorted(set(self._roles.values()))
        ]
        if self.settings.table is not None:
            schema, _, name = self.settings.table.rpartition(".")
            return sa.table(name, *columns, schema=schema or None)
        assert self.settings.query is not None  # the settings hold one or the other
        return sa.text(self.settings.query).columns(*columns).subquery("source")

    async def _fetch(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        try:
            async with self._engine.connect() as conn:
                return list((await conn.execute(query)).all())
        except (OSError, SQLAlchemyError) as exc:  # TimeoutError is an OSError
            raise SourceUnavailable(f"source {self.settings.name!r}: {reason(exc)}") from exc


def reason(exc: BaseException) -> str:
    """The cause in one line, without the driver's class names and SQL."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    # asyncpg's errors reach us as "<class 'asyncpg.exceptions.X'>: message".
    return text.split(">: ", 1)[1] if text.startswith("<class ") and ">: " in text else text


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # A missing shop database is an outage, not an empty shop: never create the file.
        database = f"file:{parsed.database}"
        query = {**parsed.query, "mode": "ro", "uri": "true"}
        return create_async_engine(
            parsed.set(database=database, query=query),
            poolclass=NullPool,
            connect_args={"timeout": 5},
        )
    return create_async_engine(
        parsed,
        poolclass=NullPool,
        connect_args={
            "timeout": 10,
            "command_timeout": 60,
            "server_settings": {
                "default_transaction_read_only": "on",
                "application_name": "notifier-source-watcher",
            },
        },
    )


# -- marks: the source's own values, kept as JSON between runs ------------------------------
# A value goes back to the source exactly as the source gave it (a naive timestamp stays
# naive), so that `(updated_at, id) > (mark)` compares like with like.


def encode(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        raise SourceUnavailable(f"a mark column holds {value!r}, which cannot order rows")
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    raise SourceUnavailable(f"a mark column holds a {type(value).__name__}, not supported")


def decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    parse: dict[str, Any] = {
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "decimal": Decimal,
        "uuid": uuid.UUID,
    }
    return parse[kind](text)


def _param(value: Any) -> sa.BindParameter[Any]:
    """A parameter typed like the value: asyncpg casts parameters, and a timestamp with a
    zone must not be cast to one without (or the other way round)."""
    types: list[tuple[type, sa.types.TypeEngine[Any]]] = [
        (datetime, sa.DateTime(timezone=isinstance(value, datetime) and value.tzinfo is not None)),
        (date, sa.Date()),
        (int, sa.BigInteger()),
        (float, sa.Float()),
        (Decimal, sa.Numeric()),
        (uuid.UUID, sa.Uuid()),
    ]
    for python_type, sql_type in types:
        if isinstance(value, python_type):
            return sa.literal(value, sql_type)
    return sa.literal(value, sa.String())
