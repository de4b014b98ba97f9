"""Durations, CLI times and quiet-hours windows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from notifier.engine import QuietHours, format_duration, parse_duration, parse_relative_or_iso

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("4h30m", timedelta(hours=4, minutes=30)),
        ("2d", timedelta(days=2)),
        ("90s", timedelta(seconds=90)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 4h 30m ", timedelta(hours=4, minutes=30)),
        ("0m", timedelta(0)),
        ("PT4H", timedelta(hours=4)),
        ("PT4H30M", timedelta(hours=4, minutes=30)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(days=14)),
        ("pt15m", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("4x", "'4x': unknown unit 'x'; use d, h, m or s"),
        ("2mo", "months and years have no fixed length"),
        ("30m4h", "give each unit once, largest first"),
        ("1h1h", "give each unit once, largest first"),
        ("1.5h", "'1.5h' is not a duration: whole numbers with units"),
        ("h", "'h' is not a duration"),
        ("P", "'P' is not an ISO-8601 duration"),
        ("PT", "'PT' is not an ISO-8601 duration"),
        ("P1M", "years and months have no fixed length; use days"),
        ("P1Y2D", "years and months have no fixed length; use days"),
        ("PT1.5H", "'PT1.5H' is not an ISO-8601 duration in whole W, D, H, M, S"),
        ("99999d", "'99999d' is longer than 3650 days"),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize("text", ["4h30m", "2d", "1d2h3m4s", "45s"])
def test_format_duration_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+18h", NOW + timedelta(hours=18)),
        ("+1d2h", NOW + timedelta(days=1, hours=2)),
        (" +PT30M ", NOW + timedelta(minutes=30)),
        ("2026-03-03T09:00", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03T09:00Z", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03T10:00+01:00", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03", datetime(2026, 3, 3, tzinfo=UTC)),
    ],
)
def test_parse_relative_or_iso(text: str, expected: datetime) -> None:
    result = parse_relative_or_iso(text, NOW)
    assert result == expected
    assert result.tzinfo is UTC


def test_relative_to_a_now_in_another_zone_is_returned_in_utc() -> None:
    paris_now = NOW.astimezone(timezone(timedelta(hours=1)))
    result = parse_relative_or_iso("+1h", paris_now)
    assert result == NOW + timedelta(hours=1) and result.tzinfo is UTC


def test_relative_without_plus_says_what_to_type() -> None:
    with pytest.raises(ValueError, match=r"starts with '\+' \(did you mean '\+18h'\?\)"):
        parse_relative_or_iso("18h", NOW)


@pytest.mark.parametrize("text", ["tomorrow", "+soon", "2026-13-01"])
def test_relative_or_iso_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration|neither a time from now|unknown unit"):
        parse_relative_or_iso(text, NOW)


def test_quiet_hours_that_wrap_midnight() -> None:
    quiet = QuietHours.parse("21:00-08:00")
    assert quiet == QuietHours(time(21), time(8)) and str(quiet) == "21:00-08:00"
    assert quiet.wraps_midnight
    assert quiet.contains(time(21)) and quiet.contains(time(23, 59)) and quiet.contains(time(3))
    assert not quiet.contains(time(8)) and not quiet.contains(time(12))
    assert quiet.contains(time(22, tzinfo=UTC))  # the caller's local time, tz ignored


def test_quiet_hours_within_a_day() -> None:
    quiet = QuietHours.parse(" 12:00 - 13:30 ")
    assert not quiet.wraps_midnight
    assert quiet.contains(time(12)) and quiet.contains(time(13, 29))
    assert not quiet.contains(time(13, 30)) and not quiet.contains(time(11, 59))


def test_end_after() -> None:
    quiet = QuietHours.parse("21:00-8:00")
    zone = ZoneInfo("Europe/Paris")
    evening = datetime(2026, 3, 2, 22, 15, tzinfo=zone)
    assert quiet.end_after(evening) == datetime(2026, 3, 3, 8, tzinfo=zone)
    night = datetime(2026, 3, 3, 2, 0, tzinfo=zone)
    assert quiet.end_after(night) == datetime(2026, 3, 3, 8, tzinfo=zone)


def test_end_after_keeps_local_time_across_a_dst_change() -> None:
    zone = ZoneInfo("Europe/Paris")  # clocks go forward on 2026-03-29 at 02:00
    end = QuietHours.parse("21:00-08:00").end_after(datetime(2026, 3, 28, 23, 0, tzinfo=zone))
    assert end == datetime(2026, 3, 29, 8, 0, tzinfo=zone)
    assert end.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("21:00", "is not a window HH:MM-HH:MM"),
        ("24:00-08:00", "'24:00' is not a time of day"),
        ("21:60-08:00", "'21:60' is not a time of day"),
        ("9pm-8am", "'9pm' is not a time of day"),
        ("08:00-08:00", "start and end are the same time"),
    ],
)
def test_quiet_hours_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuietHours.parse(text)
