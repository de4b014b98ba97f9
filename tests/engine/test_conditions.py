"""Conditions: evaluated in Jinja2's sandbox, refused at load when unsafe, wrong or costly."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.engine import Condition, sample_context
from notifier.errors import RuleError


def context(**changes: Any) -> dict[str, Any]:
    """The sample context with some incident fields changed."""
    ctx = sample_context()
    ctx["incident"] = {**ctx["incident"], **changes}
    return ctx


@pytest.mark.parametrize(
    ("source", "severity", "expected"),
    [
        ("incident.severity in ['major', 'critical']", "critical", True),
        ("incident.severity in ['major', 'critical']", "minor", False),
        ("incident.severity != 'minor'", "minor", False),
        ("incident.severity == 'major' or incident.affects|length > 3", "minor", False),
        ("incident.severity|upper == 'MAJOR'", "major", True),
    ],
)
def test_true_and_false(source: str, severity: str, expected: bool) -> None:
    assert Condition(source)(context(severity=severity)) is expected


def test_dates_and_none() -> None:
    condition = Condition("update.eta != None and update.eta > incident.declared_at")
    ctx = sample_context()
    assert condition(ctx) is True
    ctx["update"] = {**ctx["update"], "eta": None}
    assert condition(ctx) is False
    ctx["update"] = {**ctx["update"], "eta": ctx["incident"]["declared_at"]}
    assert condition(ctx) is False


def test_tests_and_defaults_work() -> None:
    assert Condition("incident.resolved_at is none")(sample_context()) is True
    assert Condition("incident.eta is not none and now < incident.eta")(sample_context()) is True


def test_a_non_boolean_result_is_truthiness() -> None:
    assert Condition("incident.workaround")(context(workaround="")) is False
    assert Condition("incident.workaround")(context(workaround="Use 4G")) is True


@pytest.mark.parametrize(
    "source",
    [
        "incident.__class__",
        "incident['__class__']",
        "cycler.__init__.__globals__",
        "''.__class__.__mro__",
        "false and incident.__class__",  # refused even where evaluation never reaches
        "incident._private",
    ],
)
def test_python_internals_are_refused(source: str) -> None:
    with pytest.raises(RuleError, match=r"^here: refers to '_\w*', a Python internal"):
        Condition(source, "here")


def test_a_key_built_at_run_time_is_still_refused_by_the_sandbox() -> None:
    with pytest.raises(RuleError, match=r"^here: fails on a sample event: access to attribute "
                                        r"'__class__' of 'dict' object is unsafe"):
        Condition("incident['__cl' ~ 'ass__'] == 1", "here")


def test_the_attr_filter_is_not_available() -> None:
    with pytest.raises(RuleError, match=r"^here: filter 'attr' is not allowed"):
        Condition("incident|attr('__class__')", "here")


def test_calls_are_refused() -> None:
    with pytest.raises(RuleError, match="calls are not allowed"):
        Condition("incident.title.startswith('Fibre')")


def test_globals_are_gone() -> None:
    for name in ("range", "lipsum", "cycler", "namespace", "dict"):
        with pytest.raises(RuleError, match=f"unknown name '{name}'"):
            Condition(f"{name} is defined")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("'a' * 10**9", "repeating would build over 10000 items"),
        ("incident.affects * 100000", "repeating would build over 10000 items"),
        ("((9**64)**64)**64 > 1", "a power over 4096 bits is not allowed"),
        ("'%999999999s' % 1", "string formatting with % is not allowed"),
        ("incident.title|center(999999999)", "filter 'center' is not allowed"),
    ],
)
def test_costly_expressions_are_refused(source: str, reason: str) -> None:
    with pytest.raises(RuleError, match=reason):
        Condition(source)


def test_cheap_arithmetic_still_works() -> None:
    assert Condition("2 ** 10 == 1024 and 'ab' * 2 == 'abab' and 7 % 3 == 1")(sample_context())


def test_too_long_or_too_deep() -> None:
    with pytest.raises(RuleError, match="longer than 1000 characters"):
        Condition("true or " * 200 + "true")
    with pytest.raises(RuleError, match="nested too deeply"):
        Condition("(" * 450 + "true" + ")" * 450)


def test_empty_and_unknown_test() -> None:
    with pytest.raises(RuleError, match="is empty"):
        Condition("  ")
    with pytest.raises(RuleError, match=r"unknown test 'defind' \(did you mean 'defined'\?\)"):
        Condition("incident.eta is defind")


def test_an_undefined_name_at_run_time_is_an_error_not_false() -> None:
    condition = Condition("order.status == 'delayed'", "rules/o.toml: rule 'late': when")
    assert condition(sample_context()) is True
    ctx = sample_context()
    del ctx["order"]
    with pytest.raises(RuleError) as info:
        condition(ctx)
    assert str(info.value) == (
        "rules/o.toml: rule 'late': when: cannot evaluate \"order.status == 'delayed'\": "
        "'order' is undefined"
    )


def test_a_type_error_at_run_time_names_the_rule() -> None:
    condition = Condition("incident.eta > now", "r.toml: rule 'x': when")
    with pytest.raises(RuleError, match=r"^r\.toml: rule 'x': when: cannot evaluate .*TypeError"):
        condition(context(eta=None))


def test_conditions_compare_by_source() -> None:
    assert Condition("incident.is_open") == Condition("incident.is_open", "elsewhere")
    assert len({Condition("incident.is_open"), Condition("incident.is_open")}) == 1
    assert repr(Condition("incident.is_open")) == "Condition('incident.is_open')"


def test_the_sample_is_the_templates_sample_without_per_customer_values() -> None:
    from notifier.templating import sample_context as template_sample

    expected = template_sample("en", message="incident_updated")
    del expected["customer"], expected["messages"], expected["told"]
    assert sample_context() == expected


@pytest.mark.parametrize(
    "source",
    [
        "incident.next_update_by is not none and incident.next_update_by < incident.eta",
        "event.payload.eta_slipped and event.payload.previous_eta < event.payload.eta",
        "event.kind == 'incident.eta_passed' and event.payload.deadline|length > 0",
        "event.payload.schedule_id > 0",
        "event.kind == 'followup' and event.payload.rule == 'still-working'",
        "event.payload.n >= 3 and event.payload.due_at",
    ],
)
def test_deadline_and_follow_up_fields_can_be_read(source: str) -> None:
    Condition(source)  # loads: every field is in the sample, and it evaluates there


def test_a_misspelt_deadline_field_is_refused_at_load() -> None:
    with pytest.raises(RuleError, match=r"event\.payload has no field 'dedline' \(did you mean "
                                        r"'deadline'\?\)"):
        Condition("event.payload.dedline")
