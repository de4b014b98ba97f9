"""Rules: which event sends which template, to whom, on which channels; read from rules/*.toml.

A rule file holds `[[rule]]` tables (their schema is in rule_fields.py). Loading checks every
field of every rule in every file and collects all the errors, each one line naming the file,
the rule and the field, so one `rules check` run lists everything to fix at once.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from notifier.domain.messages import ChannelName
from notifier.durations import QuietHours
from notifier.engine.conditions import Condition
from notifier.engine.rule_fields import (
    AUDIENCES,
    EVENT_KINDS,
    FIELDS,
    INCIDENT_EVENTS,
    ORDER_EVENTS,
    Audience,
    kind_of,
    read_fields,
    rule_label,
)
from notifier.errors import RuleError

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIENCES",
    "EVENT_KINDS",
    "FIELDS",
    "INCIDENT_EVENTS",
    "ORDER_EVENTS",
    "Audience",
    "LiveRules",
    "Rule",
    "RuleSet",
    "RuleSetError",
]


@dataclass(frozen=True)
class Rule:
    name: str
    on: tuple[str, ...]
    when: Condition | None
    audience: Audience
    channels: tuple[ChannelName, ...]
    template: str
    after: timedelta | None = None
    every: timedelta | None = None
    until: Condition | None = None
    max_times: int | None = None
    quiet_hours: QuietHours | None = None
    quiet_hours_email: bool = False
    critical_overrides_quiet_hours: bool = True
    fallback_channel: ChannelName | None = None
    min_gap: timedelta | None = None
    # Held for the grouping window and sent together with the customer's other grouped
    # messages on the same channel, as one message.
    group: bool = False
    # Higher leaves first when a provider's capacity is short (rule_fields.PRIORITIES).
    priority: int = 50
    # How long a message handed to a provider stays worth delivering (Twilio drops it after).
    validity: timedelta | None = None
    enabled: bool = True
    description: str = ""
    source: str = ""


class RuleSetError(RuleError):
    """Every error found while loading rules; the message is one line per error."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _read_rule(raw: Mapping[str, Any], source: str, index: int, errors: list[str]) -> Rule | None:
    """One [[rule]] table, or None after appending its errors."""
    first_error = len(errors)
    values = read_fields(raw, rule_label(raw, source, index), errors)
    if len(errors) > first_error:
        return None
    return Rule(**{"when": None, **values}, source=source)


def _toml_error(exc: tomllib.TOMLDecodeError) -> str:
    # Python 3.11's tomllib puts the position at the end of the message only.
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(exc))
    if match:
        return f"line {match[2]}, column {match[3]}: invalid TOML: {match[1]}"
    return f"invalid TOML: {exc}"


def _read_file(source: str, text: str, errors: list[str]) -> list[Rule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        errors.append(f"{source}: {_toml_error(exc)}")
        return []
    for key in data:
        if key != "rule":
            errors.append(f"{source}: unknown top-level key {key!r}: rules go in [[rule]] tables")
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        errors.append(f"{source}: write [[rule]] (an array of tables), not [rule]")
        return []
    rules = []
    for index, raw in enumerate(tables, start=1):
        if not isinstance(raw, dict):
            errors.append(f"{source}: rule #{index}: expected a table, got {kind_of(raw)}")
        elif (rule := _read_rule(raw, source, index, errors)) is not None:
            rules.append(rule)
    return rules


def _decode(source: str, data: bytes, errors: list[str]) -> str | None:
    try:
        return data.decode("utf-8-sig")  # -sig: a BOM from a Windows editor is not an error
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        errors.append(
            f"{source}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        )
        return None


class RuleSet:
    """Loaded, valid rules, indexed by event kind."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        by_kind: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.enabled:
                for kind in rule.on:
                    by_kind.setdefault(kind, []).append(rule)
        self._by_kind = {kind: tuple(rules) for kind, rules in by_kind.items()}

    @classmethod
    def load(cls, directory: Path) -> RuleSet:
        """Every *.toml file in `directory`, by file name; RuleSetError lists every problem."""
        if not directory.is_dir():
            raise RuleSetError([f"{directory}: not a directory of rule files"])
        # Hidden files are editors' lock and backup files, not rules.
        paths = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("."))
        if not paths:
            raise RuleSetError([f"{directory}: no *.toml rule files"])
        errors: list[str] = []
        texts: dict[str, str] = {}
        for path in paths:
            try:
                text = _decode(str(path), path.read_bytes(), errors)
            except OSError as exc:
                errors.append(f"{path}: cannot read: {exc.strerror or exc}")
                continue
            if text is not None:
                texts[str(path)] = text
        return cls._build(texts, errors)

    @classmethod
    def from_texts(cls, texts: Mapping[str, str]) -> RuleSet:
        """{file name: TOML text}, read in file-name order as `load` does."""
        return cls._build({name: texts[name] for name in sorted(texts)}, [])

    @classmethod
    def _build(cls, texts: Mapping[str, str], errors: list[str]) -> RuleSet:
        rules: list[Rule] = []
        for source, text in texts.items():
            rules.extend(_read_file(source, text, errors))
        first_seen: dict[str, Rule] = {}
        for rule in rules:
            if rule.name in first_seen:
                errors.append(
                    f"{rule.source}: rule {rule.name!r}: name: already used by a rule in "
                    f"{first_seen[rule.name].source}"
                )
            first_seen.setdefault(rule.name, rule)
        if errors:
            raise RuleSetError(errors)
        return cls(rules)

    def for_event(self, kind: str) -> list[Rule]:
        """The enabled rules listening to `kind`, in file order."""
        return list(self._by_kind.get(kind, ()))

    def templates(self) -> set[str]:
        # Disabled rules count: enabling one must not reveal a missing template.
        return {rule.template for rule in self.rules}

    def __len__(self) -> int:
        return len(self.rules)


class LiveRules:
    """The rule set in force. A reload that fails keeps the last good set running."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current = RuleSet.load(directory)

    @property
    def current(self) -> RuleSet:
        return self._current

    def reload(self) -> list[str]:
        """Load the directory again; return its errors ([] when the new set is in force)."""
        try:
            rules = RuleSet.load(self.directory)
        except RuleSetError as exc:
            logger.warning(
                "rules reload failed; the previous rules stay in force",
                extra={"action": "rules_reload_failed", "errors": exc.errors},
            )
            return list(exc.errors)
        self._current = rules
        logger.info("rules reloaded", extra={"action": "rules_reloaded", "rules": len(rules)})
        return []
