"""Scenario files for `notifier rules simulate`: customers and a timeline of state changes.

    start = "2026-11-23T02:10:00Z"        # optional; when "+0m" is
    horizon = "+30h"                      # how long to run, from start
    customers_file = "customers.csv"      # optional, relative to this file; and/or:

    [[customers]]
    id = "c-1"
    name = "Ann Lee"
    email = "ann@example.com"
    phone = "+12015550123"
    locale = "en"
    timezone = "America/New_York"
    services = ["satellite-radio"]
    opt_out = ["sms"]                     # optional

    [[events]]
    at = "+0m"
    declare = { title = "...", severity = "major", affects = ["satellite-radio"], eta = "+18h" }

    [[events]]
    at = "+10h"
    update = { incident = 1, status = "identified", eta = "+8h", message = "..." }

    [[events]]
    at = "+16h"
    resolve = { incident = 1, cause = "...", message = "..." }

    [[events]]
    at = "+17h"
    order = { id = "A-1", status = "delayed", customer = "c-1", promised_date = "2026-11-27" }

Times in an event (`eta`, `next_update`) are relative to that event, as an operator would
type them at that moment; `incident = N` is the N-th incident declared in the scenario.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from notifier.durations import parse_duration
from notifier.errors import ScenarioError

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _offset(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("+"):
            raise ValueError(f"{value!r}: write a time relative to the scenario, like '+9h'")
        return parse_duration(text[1:])
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Declare(_Strict):
    title: str
    severity: Literal["minor", "major", "critical"]
    affects: list[str] = Field(min_length=1)
    eta: timedelta | None = None
    workaround: str | None = None
    message: str | None = None
    next_update: timedelta | None = None

    _offsets = field_validator("eta", "next_update", mode="before")(_offset)


class Update(_Strict):
    incident: int = Field(ge=1)
    message: str
    status: str | None = None
    eta: timedelta | None = None
    workaround: str | None = None
    next_update: timedelta | None = None

    _offsets = field_validator("eta", "next_update", mode="before")(_offset)


class Resolve(_Strict):
    incident: int = Field(ge=1)
    cause: str
    message: str | None = None


class OrderEvent(_Strict):
    id: str
    status: str
    customer: str | None = None  # needed on an order's first event
    promised_date: date | None = None
    carrier: str | None = None
    tracking: str | None = None
    note: str | None = None


class ScenarioEvent(_Strict):
    at: timedelta
    declare: Declare | None = None
    update: Update | None = None
    resolve: Resolve | None = None
    order: OrderEvent | None = None

    _at = field_validator("at", mode="before")(_offset)

    def action(self) -> Declare | Update | Resolve | OrderEvent:
        given = [a for a in (self.declare, self.update, self.resolve, self.order) if a is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of declare, update, resolve, order")
        return given[0]


class ScenarioCustomer(_Strict):
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    services: list[str] = []
    opt_out: list[str] = []


class Scenario(_Strict):
    start: datetime = DEFAULT_START
    horizon: timedelta
    customers_file: Path | None = None
    customers: list[ScenarioCustomer] = []
    events: list[ScenarioEvent] = Field(min_length=1)

    _horizon = field_validator("horizon", mode="before")(_offset)
    # Where each table was written, for errors found while the scenario runs.
    _path: Path | None = PrivateAttr(default=None)
    _text: str = PrivateAttr(default="")

    def where(self, table: str, index: int) -> str:
        """`file:line` of the index-th (0-based) [[table]], to start an error message with."""
        if self._path is None:
            return f"{table}[{index + 1}]"
        return f"{self._path}:{_line(self._text, table, index)}"

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario; errors name the file and the line of the table at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        scenario = Scenario.model_validate(raw)
        for index, event in enumerate(scenario.events):
            try:
                event.action()
            except ValueError as exc:
                raise ScenarioError(
                    f"{path}:{_line(text, 'events', index)}: events[{index + 1}]: {exc}"
                ) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error["loc"]]
        line = 1
        if len(loc) >= 2 and loc[0] in ("events", "customers") and loc[1].isdigit():
            line = _line(text, loc[0], int(loc[1]))
            loc[1] = f"[{int(loc[1]) + 1}]"
        where = ".".join(loc).replace(".[", "[")
        raise ScenarioError(f"{path}:{line}: {where}: {error['msg']}") from None
    if scenario.customers_file is not None and not scenario.customers_file.is_absolute():
        scenario.customers_file = path.parent / scenario.customers_file
    if not scenario.customers and scenario.customers_file is None:
        raise ScenarioError(f"{path}:1: give [[customers]] or customers_file")
    for index, event in enumerate(scenario.events):
        if event.at > scenario.horizon:
            raise ScenarioError(
                f"{path}:{_line(text, 'events', index)}: events[{index + 1}].at: "
                f"+{_duration(event.at)} is after the horizon, +{_duration(scenario.horizon)}: "
                "it would never run"
            )
    scenario._path, scenario._text = path, text
    return scenario


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def _line(text: str, table: str, index: int) -> int:
    """The line of the index-th [[table]] header (1-based), for error messages."""
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().replace(" ", "") == f"[[{table}]]":
            seen += 1
            if seen == index:
                return number
    return 1
