"""What an incident may hold: one set of checks for every way in (API, CLI, console).

The API's request models catch the same bounds earlier (for the 422 naming the field) by
importing them from here; the console and the CLI reach these checks through the service.
An ETA outside 1970-2200 is refused because customers east of UTC would see it overflow a
datetime when it is formatted in their time zone; a list of affected services is bounded
because each key becomes a parameter of the audience query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from notifier.errors import InputError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_AFFECTS = 100
MAX_TITLE = 300
MAX_TEXT = 4000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # \t \n \r are fine
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


def text(
    field: str,
    value: str | None,
    *,
    required: bool = False,
    limit: int = MAX_TEXT,
    one_line: bool = False,
) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InputError(f"{field}: must not be empty")
        return None
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{field}: at most {limit} characters (got {len(value)})")
    # A title becomes an email subject: refuse line breaks and control characters outright,
    # the same on every way in, rather than rely on the email builder's escaping alone.
    bad = _CONTROL.search(value) if one_line else _CONTROL_MULTILINE.search(value)
    if bad:
        raise InputError(f"{field}: control character {bad.group()!r} is not allowed")
    return value


def affects(keys: Sequence[str]) -> list[str]:
    if len(keys) > MAX_AFFECTS:
        raise InputError(f"affects: at most {MAX_AFFECTS} services (got {len(keys)})")
    cleaned: list[str] = []
    for key in keys:
        key = key.strip()
        if not _KEY.match(key):
            shown = key if len(key) <= 40 else key[:40] + "..."
            raise InputError(
                f"affects: {shown!r} is not a service key (letters, digits and . _ : / -)"
            )
        if key not in cleaned:
            cleaned.append(key)
    if not cleaned:
        raise InputError("affects: name at least one affected service")
    return cleaned


def in_range(field: str, value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InputError(f"{field}: give a time zone (or a relative value such as +2h)")
    if not EARLIEST <= value <= LATEST:
        raise InputError(f"{field}: {value.isoformat()} is not between 1970 and 2200")
    return value


def future(field: str, value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    in_range(field, value)
    if value <= now:
        raise InputError(f"{field}: {value.isoformat()} is in the past")
    return value
