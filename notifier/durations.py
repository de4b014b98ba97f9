"""Durations ("4h30m", "PT4H"), CLI times ("+18h" or ISO-8601) and quiet-hours windows.

Every parser raises ValueError with a message that quotes the input and shows a valid
example, so the caller can prefix it with where the value came from and show it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from notifier.clock import utc

# Anything longer is a typo (a missing unit, an extra zero), and a bound keeps datetime
# arithmetic far from OverflowError.
MAX_DURATION = timedelta(days=3650)

_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_COMPACT_PART = re.compile(r"(\d+)\s*([a-z]+)\s*")
# `T(?=\d)` refuses a bare trailing "T"; years and months are left out on purpose (below).
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)
_EXAMPLES = "e.g. '30m', '4h30m', '2d' or 'PT4H'"


def parse_duration(text: str) -> timedelta:
    """Parse "1h", "30m", "4h30m", "2d", "90s" (units largest first) or ISO-8601 "PT4H"."""
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"empty duration ({_EXAMPLES})")
    if stripped[0] in "Pp":
        seconds = _iso_seconds(text, stripped.upper())
    else:
        seconds = _compact_seconds(text, stripped.lower())
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def _compact_seconds(text: str, stripped: str) -> int:
    seconds, position, previous = 0, 0, ""
    units = "".join(_UNIT_SECONDS)
    while position < len(stripped):
        match = _COMPACT_PART.match(stripped, position)
        if match is None:
            raise ValueError(f"{text!r} is not a duration: whole numbers with units ({_EXAMPLES})")
        number, unit = match.groups()
        if unit not in _UNIT_SECONDS:
            fuzzy = unit.startswith(("mo", "y"))
            hint = " (months and years have no fixed length: use days)" if fuzzy else ""
            raise ValueError(f"{text!r}: unknown unit {unit!r}; use d, h, m or s{hint}")
        # Largest unit first and each once: "30m4h" or "1h1h" is more likely a typo than intent.
        if previous and units.index(unit) <= units.index(previous):
            raise ValueError(f"{text!r}: give each unit once, largest first ({_EXAMPLES})")
        seconds += int(number) * _UNIT_SECONDS[unit]
        position, previous = match.end(), unit
    return seconds


def _iso_seconds(text: str, upper: str) -> int:
    match = _ISO.fullmatch(upper)
    if match is None or not any(match.groupdict().values()):
        date_part = upper.partition("T")[0]
        if "Y" in date_part or "M" in date_part:
            raise ValueError(f"{text!r}: years and months have no fixed length; use days (P30D)")
        raise ValueError(f"{text!r} is not an ISO-8601 duration in whole W, D, H, M, S (PT4H30M)")
    parts = {key: int(value or 0) for key, value in match.groupdict().items()}
    return (
        parts["w"] * 7 * 86_400
        + parts["d"] * 86_400
        + parts["h"] * 3_600
        + parts["m"] * 60
        + parts["s"]
    )


def format_duration(delta: timedelta) -> str:
    """The compact form parse_duration reads back: 16200s -> "4h30m"."""
    remaining = int(delta.total_seconds())
    if remaining <= 0:
        return "0s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_relative_or_iso(text: str, now: datetime) -> datetime:
    """A CLI time such as `--eta`: "+18h" / "+1d2h" from `now`, or an ISO-8601 date-time.

    A naive ISO value is taken as UTC (as everywhere in notifier); the result is aware UTC.
    """
    stripped = text.strip()
    if stripped.startswith("+"):
        return utc(now) + parse_duration(stripped[1:])
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        pass
    else:
        return utc(parsed)
    try:
        parse_duration(stripped)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a time from now ('+18h', '+1d2h') nor an ISO-8601 date-time "
            "('2026-03-01T14:00', '2026-03-01T14:00+01:00')"
        ) from None
    # A bare "18h" is almost certainly meant as relative, but it could also be a clock time:
    # asking costs the user one retry, guessing wrong sends the wrong ETA to customers.
    raise ValueError(f"{text!r}: a time from now starts with '+' (did you mean '+{stripped}'?)")


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def _parse_clock(text: str, whole: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{whole!r}: {text.strip()!r} is not a time of day HH:MM (00:00-23:59)")
    return time(int(match[1]), int(match[2]))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window of local time, [start, end), that may wrap midnight ("21:00-08:00")."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        start_text, dash, end_text = text.partition("-")
        if not dash:
            raise ValueError(f"{text!r} is not a window HH:MM-HH:MM (e.g. '21:00-08:00')")
        start, end = _parse_clock(start_text, text), _parse_clock(end_text, text)
        if start == end:
            # Equal ends could mean "never" or "all day"; refuse rather than guess.
            raise ValueError(f"{text!r}: start and end are the same time")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def wraps_midnight(self) -> bool:
        return self.start > self.end

    def contains(self, local_time: time) -> bool:
        """Whether a local wall-clock time falls in the window (start included, end excluded)."""
        moment = local_time.replace(tzinfo=None)
        if self.wraps_midnight:
            return moment >= self.start or moment < self.end
        return self.start <= moment < self.end

    def end_after(self, local_dt: datetime) -> datetime:
        """The next moment after `local_dt` at which the window ends, in local_dt's timezone.

        Meant for a `local_dt` inside the window (check `contains` first): it is when a
        held message may go. Adding a day to an aware datetime keeps the wall-clock time,
        so "08:00" stays 08:00 local across a DST change.
        """
        end = local_dt.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local_dt:
            end += timedelta(days=1)
        return end


__all__ = [
    "MAX_DURATION",
    "QuietHours",
    "format_duration",
    "parse_duration",
    "parse_relative_or_iso",
]
