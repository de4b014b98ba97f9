"""Field types shared by the request models: text without control characters, sane times.

Every string a client sends ends up in the database or in a message: NUL bytes (refused by
PostgreSQL), lone surrogates (not encodable) and other control characters are refused at
the door with a 422 naming the field, not met later as a 500.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

from notifier.services.incident_input import EARLIEST, LATEST

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\r\n\t]")
MAX_INT = 2**31 - 1  # ids are 32-bit on PostgreSQL: larger ones are unknown, not errors


def _text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _line(value: str) -> str:
    if _LINE_BREAK.search(value):
        raise ValueError("must be one line")
    return _text(value)


def _sane_time(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value.astimezone(UTC)


# Multi-line text (messages, template sources) and one-line text (titles, names, ids).
LongText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_text)]
Line = Annotated[str, StringConstraints(max_length=300), AfterValidator(_line)]
ShortLine = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_line)]
When = Annotated[AwareDatetime, AfterValidator(_sane_time)]

IncidentId = Annotated[int, Path(ge=1, le=MAX_INT, description="The incident's id.")]
CustomerId = Annotated[
    str,
    Path(min_length=1, max_length=128, description="The company's own customer id."),
    AfterValidator(_line),
]


class Body(BaseModel):
    """Base of every request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Message(BaseModel):
    """An error or a short answer."""

    detail: str
