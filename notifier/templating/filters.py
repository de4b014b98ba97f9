"""Date and time filters, in the customer's own timezone and language.

    {{ incident.eta | datetime }}                 Mar 1, 2026, 1:00:00 PM
    {{ incident.eta | datetime("short") }}        3/1/26, 1:00 PM
    {{ incident.eta | datetime("EEEE h:mm a") }}  Sunday 1:00 PM   (a CLDR pattern)
    {{ incident.eta | date("long") }}             March 1, 2026
    {{ incident.eta | time }}                     1:00 PM
    {{ incident.eta | until }}                    in 18 hours       (relative to `now`)
    {{ (incident.resolved_at - incident.declared_at) | timedelta }}   19 hours

The timezone and language come from `customer.timezone` and `customer.locale` in the render
context; values that Babel or zoneinfo do not know fall back to English and UTC, because a
typo in one customer's row must not stop their outage notice. A None value is an error: a
template must guard optional fields with `{% if incident.eta %}`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, format_timedelta
from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from notifier.errors import TemplateError

FALLBACK_LOCALE = "en"
_DURATION_STYLES = ("narrow", "short", "medium", "long")


@functools.lru_cache(maxsize=256)
def resolve_locale(tag: str | None) -> Locale:
    try:
        return Locale.parse(str(tag).replace("-", "_"))
    except Exception:  # UnknownLocaleError derives from Exception only
        return Locale.parse(FALLBACK_LOCALE)


@functools.lru_cache(maxsize=256)
def resolve_zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(str(name))
    except Exception:  # not found, a directory, a path trick: all mean "not a timezone"
        return UTC


def _customer_field(context: Context, field: str) -> str | None:
    customer = context.get("customer")
    value = customer.get(field) if isinstance(customer, Mapping) else getattr(customer, field, None)
    return None if value is None else str(value)


def _locale(context: Context) -> Locale:
    return resolve_locale(_customer_field(context, "locale"))


def _as_datetime(value: Any, filter_name: str) -> datetime:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None:
        raise TemplateError(f"{filter_name} got None: guard optional values with {{% if ... %}}")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise TemplateError(f"{filter_name} got {value!r}, not a date and time") from None
    if isinstance(value, datetime):
        # The store hands back naive datetimes from SQLite: they are UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    raise TemplateError(f"{filter_name} got a {type(value).__name__}, not a datetime")


def _style(fmt: str) -> str:
    if not isinstance(fmt, str) or not fmt:
        raise TemplateError("date format must be short, medium, long, full or a CLDR pattern")
    return fmt


# A fan-out shows one ETA to thousands of customers who share a handful of timezones and
# languages: caching the formatted text makes the date filters nearly free.
@functools.lru_cache(maxsize=4096)
def _format(kind: str, value: date, fmt: str, locale_tag: str | None, zone: str | None) -> str:
    locale, tz = resolve_locale(locale_tag), resolve_zone(zone)
    if isinstance(value, datetime):
        if kind == "datetime":
            return str(format_datetime(value, fmt, tzinfo=tz, locale=locale))
        if kind == "time":
            return str(format_time(value, fmt, tzinfo=tz, locale=locale))
        value = value.astimezone(tz).date()
    return str(format_date(value, fmt, locale=locale))


def _format_for(context: Context, kind: str, value: date, fmt: str) -> str:
    locale_tag = _customer_field(context, "locale")
    zone = _customer_field(context, "timezone")
    return _format(kind, value, _style(fmt), locale_tag, zone)


@pass_context
def datetime_filter(context: Context, value: Any, fmt: str = "medium") -> str:
    return _format_for(context, "datetime", _as_datetime(value, "datetime"), fmt)


@pass_context
def date_filter(context: Context, value: Any, fmt: str = "medium") -> str:
    if isinstance(value, str) and len(value) == 10:
        # "2026-03-04" (an order's promised date in an event payload) is a calendar date:
        # read as UTC midnight it would show as 3 March west of Greenwich.
        with contextlib.suppress(ValueError):
            value = date.fromisoformat(value)
    if not (isinstance(value, date) and not isinstance(value, datetime)):
        value = _as_datetime(value, "date")
    # A calendar date (an order's promised date) has no timezone and is shown as it is.
    return _format_for(context, "date", value, fmt)


@pass_context
def time_filter(context: Context, value: Any, fmt: str = "short") -> str:
    return _format_for(context, "time", _as_datetime(value, "time"), fmt)


@pass_context
def until_filter(context: Context, value: Any) -> str:
    """`in 18 hours` / `dans 18 heures`; a past value reads `18 hours ago`."""
    when = _as_datetime(value, "until")
    now = _as_datetime(context.get("now"), "until (the context's `now`)")
    delta = when - now
    return str(format_timedelta(delta, add_direction=True, locale=_locale(context)))


@pass_context
def timedelta_filter(context: Context, value: Any, fmt: str = "long") -> str:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise TemplateError(f"timedelta got a {type(value).__name__}, not a duration")
    if fmt not in _DURATION_STYLES:
        raise TemplateError(f"timedelta format must be one of {', '.join(_DURATION_STYLES)}")
    style = cast(Literal["narrow", "short", "medium", "long"], fmt)
    return str(format_timedelta(value, format=style, locale=_locale(context)))


DATE_FILTERS: dict[str, Callable[..., Any]] = {
    "datetime": datetime_filter,
    "date": date_filter,
    "time": time_filter,
    "until": until_filter,
    "timedelta": timedelta_filter,
}
