"""A shop's own database, as a source watcher sees it: a real SQLite file or PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from tests.databases import PG_HOST, PG_PORT, PG_USER

COLUMNS = ("id", "status", "customer_id", "promised_date", "carrier", "tracking", "updated_at")


class Shop(Protocol):
    url: str

    async def put(self, order_id: int, status: str, at: datetime, **fields: Any) -> None:
        """Insert the order's row, or replace it (a shop updating its orders table)."""

    async def go_away(self) -> None: ...

    async def come_back(self) -> None: ...

    async def close(self) -> None: ...


class SqliteShop:
    """Written with the stdlib driver, as another program would; text timestamps."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "shop.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        self._away = directory / "shop.db.moved"
        with sqlite3.connect(self.path) as db:
            db.execute(
                "CREATE TABLE shop (id INTEGER PRIMARY KEY, status TEXT, customer_id TEXT, "
                "promised_date TEXT, carrier TEXT, tracking TEXT, updated_at TEXT)"
            )
        self._where = self.path

    async def put(self, order_id: int, status: str, at: datetime, **fields: Any) -> None:
        row = {"id": order_id, "status": status, "updated_at": f"{at:%Y-%m-%d %H:%M:%S}"}
        row |= {k: str(v) for k, v in fields.items()}
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        db = sqlite3.connect(self._where)
        try:
            with db:
                db.execute(
                    f"INSERT OR REPLACE INTO shop ({names}) VALUES ({marks})", list(row.values())
                )
        finally:
            db.close()

    async def go_away(self) -> None:
        # The file is moved, as when a disk is unmounted: the path the watcher knows is gone.
        self.path.rename(self._away)
        self._where = self._away

    async def come_back(self) -> None:
        self._away.rename(self.path)
        self._where = self.path

    async def close(self) -> None:
        pass


class PostgresShop:
    """A `shop` table in a database of its own; timestamptz, as most shops have."""

    def __init__(self, url: str, conn: asyncpg.Connection) -> None:
        self.url = url
        self._conn = conn
        self._table = "shop"

    @classmethod
    async def create(cls, url: str) -> PostgresShop:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
        # The database outlives a test (see the `shop_database` fixture): start afresh.
        await conn.execute("DROP TABLE IF EXISTS shop, shop_elsewhere")
        await conn.execute(
            "CREATE TABLE shop (id bigint PRIMARY KEY, status text, customer_id text, "
            "promised_date date, carrier text, tracking text, updated_at timestamptz NOT NULL)"
        )
        return cls(url, conn)

    async def put(self, order_id: int, status: str, at: datetime, **fields: Any) -> None:
        row: dict[str, Any] = {"id": order_id, "status": status, "updated_at": at} | fields
        names = ", ".join(row)
        marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in row if k != "id")
        await self._conn.execute(
            f"INSERT INTO {self._table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            *row.values(),
        )

    async def go_away(self) -> None:
        await self._conn.execute("ALTER TABLE shop RENAME TO shop_elsewhere")
        self._table = "shop_elsewhere"

    async def come_back(self) -> None:
        await self._conn.execute("ALTER TABLE shop_elsewhere RENAME TO shop")
        self._table = "shop"

    async def close(self) -> None:
        await self._conn.close()
