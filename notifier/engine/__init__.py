"""The rule engine: rule files, their conditions, and the durations they are written in."""

from notifier.durations import (
    QuietHours,
    format_duration,
    parse_duration,
    parse_relative_or_iso,
)
from notifier.engine.conditions import Condition, sample_context
from notifier.engine.rules import (
    EVENT_KINDS,
    INCIDENT_EVENTS,
    ORDER_EVENTS,
    Audience,
    LiveRules,
    Rule,
    RuleSet,
    RuleSetError,
)

__all__ = [
    "EVENT_KINDS",
    "INCIDENT_EVENTS",
    "ORDER_EVENTS",
    "Audience",
    "Condition",
    "LiveRules",
    "QuietHours",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "format_duration",
    "parse_duration",
    "parse_relative_or_iso",
    "sample_context",
]
