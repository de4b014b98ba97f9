"""Helpers to write rule files in tests: one valid rule, changed one field at a time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from notifier.engine import RuleSet, RuleSetError

VALID: dict[str, Any] = {
    "name": "tell-affected",
    "on": ["incident.declared"],
    "audience": "affected",
    "channels": ["email", "sms"],
    "template": "incident_declared",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # JSON strings, numbers and arrays of them are valid TOML too.
    return json.dumps(value)


def rule_toml(**changes: Any) -> str:
    """A [[rule]] table: VALID with `changes` applied; a change to None removes the field."""
    fields = {**VALID, **changes}
    lines = ["[[rule]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in fields.items() if value is not None]
    return "\n".join(lines) + "\n"


def load_errors(texts: Mapping[str, str]) -> list[str]:
    """The errors RuleSet.from_texts raises, checked to be one line each."""
    with pytest.raises(RuleSetError) as info:
        RuleSet.from_texts(texts)
    errors = info.value.errors
    assert str(info.value) == "\n".join(errors)
    assert errors and all("\n" not in error for error in errors)
    return errors


def only_error(**changes: Any) -> str:
    """The single error of a one-rule file `rules/incidents.toml` with `changes`."""
    errors = load_errors({"rules/incidents.toml": rule_toml(**changes)})
    assert len(errors) == 1, errors
    return errors[0]
