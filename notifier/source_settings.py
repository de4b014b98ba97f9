"""`[[sources]]`: the shop databases a source watcher reads, as the config file says them.

Kept apart from notifier.config (which imports it) so that the config module stays about
notifier itself; `notifier.config.SourceSettings` is this class.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from notifier.domain.orders import OrderStatus

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")  # optional schema.
_DRIVERS = ("sqlite+aiosqlite://", "postgresql+asyncpg://")  # as for [database] url


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceColumns(_Section):
    """Which column of the source holds each field; "" for a field the source lacks."""

    id: str = "id"
    status: str = "status"
    customer: str = "customer_id"
    promised_date: str = "promised_date"
    carrier: str = "carrier"
    tracking: str = "tracking"
    updated_at: str = "updated_at"

    @field_validator("*")
    @classmethod
    def _column_name(cls, value: str) -> str:
        # Names are quoted when the query is built; the pattern keeps them readable too.
        if value and not _COLUMN.fullmatch(value):
            raise ValueError(f"{value!r} is not a column name (letters, digits, _)")
        return value

    @field_validator("id", "status")
    @classmethod
    def _needed(cls, value: str) -> str:
        if not value:
            raise ValueError("every source needs this column")
        return value


class SourceSettings(_Section):
    """One `[[sources]]` table: config.example.toml documents every key."""

    name: str
    url: str
    table: str | None = None
    query: str | None = None
    columns: SourceColumns = SourceColumns()
    mark: Literal["updated_at", "id"] = "updated_at"
    # "now": the first poll only notes where the source is (old orders stay untold);
    # "beginning": every existing row becomes an event.
    start: Literal["now", "beginning"] = "now"
    interval: float = Field(default=30.0, gt=0, le=86_400)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # The shop's status values that differ from notifier's ("in_transit" = "shipped").
    statuses: dict[str, OrderStatus] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be 1-64 of a-z, 0-9, _ and -, starting with a letter or digit")
        return value

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(_DRIVERS):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (an async driver)"
            )
        return value

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        if value is not None and not _TABLE.fullmatch(value):
            raise ValueError(f"{value!r} is not a table name (name or schema.name)")
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> SourceSettings:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table or query (one of them)")
        if self.mark == "updated_at" and not self.columns.updated_at:
            raise ValueError('mark = "updated_at" needs columns.updated_at')
        return self


def _unique_names(sources: list[SourceSettings]) -> list[SourceSettings]:
    # The name keys the source's mark: two sources sharing one would skip each other's rows.
    names = [source.name for source in sources]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"two sources are named {repeated[0]!r}")
    return sources


SourceList = Annotated[list[SourceSettings], AfterValidator(_unique_names)]
