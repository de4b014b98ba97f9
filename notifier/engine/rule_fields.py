"""The schema of a `[[rule]]` table: the event vocabulary, and one parser per field.

Each parser turns a TOML value into what `Rule` holds, or raises ValueError with a message
that does not repeat the field name: `read_fields` puts "file: rule: field: " in front, so
every error is one line that says where to look.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast, get_args

from notifier.channels.registry import UnknownChannel, channel_class
from notifier.domain.messages import ChannelName
from notifier.durations import QuietHours, parse_duration
from notifier.engine.conditions import Condition
from notifier.errors import RuleError

Audience = Literal["affected", "operations", "customer"]
AUDIENCES: tuple[str, ...] = get_args(Audience)

ORDER_STATUSES = (
    "placed",
    "confirmed",
    "shipped",
    "out_for_delivery",
    "delivered",
    "delayed",
    "exception",
    "cancelled",
    "returned",
)
INCIDENT_EVENTS = (
    "incident.declared",
    "incident.updated",
    "incident.resolved",
    "incident.eta_near",
    "incident.eta_passed",
    "incident.update_overdue",
)
MAINTENANCE_EVENTS = (
    "maintenance.scheduled",
    "maintenance.updated",
    "maintenance.notice_72h",
    "maintenance.notice_1h",
    "maintenance.started",
    "maintenance.overran",
    "maintenance.completed",
    "maintenance.cancelled",
)
ORDER_EVENTS = (*(f"order.{status}" for status in ORDER_STATUSES), "order.at_risk", "order.late")
EVENT_KINDS = frozenset(INCIDENT_EVENTS + ORDER_EVENTS + MAINTENANCE_EVENTS)

REQUIRED_FIELDS = ("name", "on", "audience", "channels", "template")

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TEMPLATE = re.compile(r"[a-z0-9_]+")
_CHANNELS = ", ".join(channel.value for channel in ChannelName)
_T = TypeVar("_T")


def suggest(word: str, options: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when one option is close to `word`, else ""."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# TOML's names for its types: that is what the person editing the file sees.
_TOML_TYPES = {
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def kind_of(value: Any) -> str:
    name = _TOML_TYPES.get(type(value), "a date/time")
    return f"{name} ({value!r})" if isinstance(value, int | float) else name


def _text(value: Any, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected {what}, got {kind_of(value)}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {kind_of(value)}")
    return value


def _duration(value: Any) -> timedelta:
    delta = parse_duration(_text(value, "a duration string such as '1h' or '30m'"))
    if delta <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than zero")
    return delta


def _channel(value: Any) -> ChannelName:
    text = _text(value, f"a channel ({_CHANNELS})")
    if text not in {channel.value for channel in ChannelName}:
        raise ValueError(f"{text!r} is not a channel ({_CHANNELS})")
    try:
        channel_class(text)  # a name without a class would fail every message it plans
    except UnknownChannel as exc:
        raise ValueError(str(exc)) from None
    return ChannelName(text)


def _listed(value: Any, what: str, parse: Callable[[Any], _T]) -> tuple[_T, ...]:
    """A non-empty array without repeats; a lone string counts as a one-item array."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"expected a non-empty array of {what}, got {kind_of(value)}")
    parsed = tuple(parse(item) for item in items)
    if len(set(parsed)) != len(parsed):
        raise ValueError(f"one of the {what} is listed twice")
    return parsed


def _event_kind(value: Any) -> str:
    kind = _text(value, "an event kind")
    if kind not in EVENT_KINDS:
        hint = suggest(kind, EVENT_KINDS) or f" (known: {', '.join(sorted(EVENT_KINDS))})"
        raise ValueError(f"unknown event kind {kind!r}{hint}")
    return kind


def _audience(value: Any) -> Audience:
    text = _text(value)
    if text not in AUDIENCES:
        choices = ", ".join(AUDIENCES)
        raise ValueError(f"{text!r} is not an audience ({choices}){suggest(text, AUDIENCES)}")
    return cast(Audience, text)


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value, what)
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not {what} ({pattern.pattern})")
        return text

    return parse


def _max_times(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected an integer of at least 1, got {kind_of(value)}")
    return value


# Named priorities; a rule may also give a number from 0 to 100. Higher leaves first when a
# provider's capacity is short.
PRIORITIES = {"urgent": 90, "high": 70, "normal": 50, "low": 30, "bulk": 10}


def _priority(value: Any) -> int:
    if isinstance(value, str) and value in PRIORITIES:
        return PRIORITIES[value]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        names = ", ".join(PRIORITIES)
        raise ValueError(
            f"expected one of {names} or an integer from 0 to 100, got {kind_of(value)}"
        )
    return value


def default_priority(on: Iterable[str], *, follow_up: bool) -> int:
    """A rule's priority when it names none: the news of an incident starting first, then
    its updates and end, then orders, then follow-ups (time-based, repeated)."""
    kinds = set(on)
    if follow_up or kinds & {"incident.eta_near", "incident.eta_passed", "incident.update_overdue"}:
        return PRIORITIES["low"]
    if "incident.declared" in kinds:
        return PRIORITIES["urgent"]
    if kinds & {"incident.updated", "incident.resolved"}:
        return PRIORITIES["high"]
    return PRIORITIES["normal"]


def _validity(value: Any) -> timedelta:
    delta = _duration(value)
    if delta > timedelta(hours=10):
        raise ValueError(f"{value!r} is longer than a provider keeps a message (10h)")
    return delta


def _quiet_hours(value: Any) -> QuietHours:
    return QuietHours.parse(_text(value, "a window such as '21:00-08:00'"))


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "name": _matching(_NAME, "a rule name"),
    "on": lambda value: _listed(value, "event kinds", _event_kind),
    "audience": _audience,
    "channels": lambda value: _listed(value, f"channels ({_CHANNELS})", _channel),
    "template": _matching(_TEMPLATE, "a template name"),
    "after": _duration,
    "every": _duration,
    "min_gap": _duration,
    "max_times": _max_times,
    "quiet_hours": _quiet_hours,
    "quiet_hours_email": _flag,
    "critical_overrides_quiet_hours": _flag,
    "enabled": _flag,
    "fallback_channel": _channel,
    "group": _flag,
    "priority": _priority,
    "validity": _validity,
    "description": _text,
}
# Conditions are compiled with their origin, so that a run-time error names the rule too.
_CONDITIONS = ("when", "until")
FIELDS = (*_PARSERS, *_CONDITIONS)


def rule_label(raw: Mapping[str, Any], source: str, index: int) -> str:
    """How errors name a rule: by its name when it has a valid one, else by its position."""
    name = raw.get("name")
    if isinstance(name, str) and _NAME.fullmatch(name):
        return f"{source}: rule {name!r}"
    return f"{source}: rule #{index}"


def read_fields(raw: Mapping[str, Any], where: str, errors: list[str]) -> dict[str, Any]:
    """Parse every field of one rule table; append an error line for each problem."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            if key in _CONDITIONS:
                values[key] = Condition(_text(value, "a condition string"), f"{where}: {key}")
            elif key in _PARSERS:
                values[key] = _PARSERS[key](value)
            else:
                errors.append(f"{where}: unknown field {key!r}{suggest(key, FIELDS)}")
        except RuleError as exc:  # conditions name their own origin
            errors.append(str(exc))
        except ValueError as exc:
            errors.append(f"{where}: {key}: {exc}")
    for key in REQUIRED_FIELDS:
        if key not in raw:
            errors.append(f"{where}: {key}: missing (a rule needs {', '.join(REQUIRED_FIELDS)})")
    _check_combinations(values, raw, where, errors)
    if "priority" not in values:
        follow_up = "every" in values or "after" in values
        values["priority"] = default_priority(values.get("on", ()), follow_up=follow_up)
    return values


def _check_combinations(
    values: Mapping[str, Any], raw: Mapping[str, Any], where: str, errors: list[str]
) -> None:
    if "max_times" in values and "every" not in raw:
        errors.append(f"{where}: max_times: only means something with 'every'")
    if values.get("fallback_channel") in values.get("channels", ()):
        fallback = raw["fallback_channel"]
        errors.append(f"{where}: fallback_channel: {fallback!r} is already in channels")
    # "affected" is computed from an incident's affected services and "customer" from an
    # order's owner: the wrong pairing would select nobody, silently.
    prefixes = {"affected": ("incident.", "maintenance."), "customer": ("order.",)}
    prefix = prefixes.get(values.get("audience", ""))
    wrong = [kind for kind in values.get("on", ()) if prefix and not kind.startswith(prefix)]
    if prefix and wrong:
        kinds = " or ".join(p[:-1] for p in prefix)
        errors.append(
            f"{where}: audience: {values['audience']!r} is for {kinds} events, not {wrong[0]!r}"
        )
