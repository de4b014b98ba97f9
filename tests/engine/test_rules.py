"""Loading rule files: every error is one line naming the file, the rule and the field."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from notifier.domain.messages import ChannelName
from notifier.engine import EVENT_KINDS, QuietHours, RuleSet, RuleSetError
from notifier.errors import RuleError

from .helpers import load_errors, only_error, rule_toml

WHERE = "rules/incidents.toml: rule 'tell-affected'"


def test_a_valid_rule_loads_with_defaults() -> None:
    rules = RuleSet.from_texts({"a.toml": rule_toml()})
    (rule,) = rules.rules
    assert rule.name == "tell-affected"
    assert rule.on == ("incident.declared",)
    assert rule.channels == (ChannelName.EMAIL, ChannelName.SMS)
    assert rule.when is None and rule.until is None
    assert rule.enabled and rule.critical_overrides_quiet_hours and not rule.quiet_hours_email
    assert rule.after is None and rule.every is None and rule.min_gap is None
    assert rule.max_times is None
    assert rule.description == "" and rule.source == "a.toml"


def test_every_optional_field_is_parsed() -> None:
    text = rule_toml(
        on="incident.updated", when="incident.severity == 'critical'", channels=["email"],
        after="1h", every="4h30m", until="incident.status == 'resolved'", max_times=3,
        quiet_hours="21:00-08:00", quiet_hours_email=True, critical_overrides_quiet_hours=False,
        fallback_channel="sms", min_gap="PT30M", enabled=False, description="Why this rule.",
    )
    (rule,) = RuleSet.from_texts({"a.toml": text}).rules
    assert rule.on == ("incident.updated",)  # a lone string is a one-item list
    assert rule.when is not None and rule.when.source == "incident.severity == 'critical'"
    assert (rule.after, rule.every, rule.min_gap) == (
        timedelta(hours=1), timedelta(hours=4, minutes=30), timedelta(minutes=30)
    )
    assert rule.max_times == 3
    assert rule.quiet_hours == QuietHours(time(21), time(8))
    assert rule.quiet_hours_email and not rule.critical_overrides_quiet_hours
    assert rule.fallback_channel is ChannelName.SMS
    assert not rule.enabled and rule.description == "Why this rule."


def test_the_briefs_example_message() -> None:
    assert only_error(channels=["email", "fax"]) == (
        "rules/incidents.toml: rule 'tell-affected': channels: 'fax' is not a channel "
        "(email, sms, whatsapp)"
    )


@pytest.mark.parametrize("field", ["on", "audience", "channels", "template"])
def test_missing_required_field(field: str) -> None:
    assert only_error(**{field: None}).startswith(f"{WHERE}: {field}: missing (a rule needs ")


def test_a_nameless_rule_is_named_by_its_position() -> None:
    text = rule_toml(name="first") + rule_toml(name=None)
    assert load_errors({"r.toml": text}) == [
        "r.toml: rule #2: name: missing (a rule needs name, on, audience, channels, template)"
    ]


def test_bad_name() -> None:
    assert only_error(name="Tell Affected") == (
        "rules/incidents.toml: rule #1: name: 'Tell Affected' is not a rule name "
        "([a-z0-9][a-z0-9_-]*)"
    )


def test_unknown_field_suggests_the_close_one() -> None:
    text = rule_toml().replace("channels =", "chanels =")
    errors = load_errors({"rules/incidents.toml": text})
    assert f"{WHERE}: unknown field 'chanels' (did you mean 'channels'?)" in errors
    assert any(error.startswith(f"{WHERE}: channels: missing") for error in errors)


def test_unknown_field_without_a_close_match() -> None:
    assert only_error(colour="red") == f"{WHERE}: unknown field 'colour'"


def test_severity_at_least_is_not_a_field() -> None:
    assert only_error(severity_at_least="major").startswith(
        f"{WHERE}: unknown field 'severity_at_least'"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channels": []}, "channels: expected a non-empty array of channels "
                           "(email, sms, whatsapp), got an array"),
        ({"channels": ["email", "email"]}, "channels: one of the channels "
                                           "(email, sms, whatsapp) is listed twice"),
        ({"channels": [1]}, "channels: expected a channel (email, sms, whatsapp), "
                            "got an integer (1)"),
        ({"audience": "everyone"}, "audience: 'everyone' is not an audience "
                                   "(affected, operations, customer)"),
        ({"audience": "afected"}, "audience: 'afected' is not an audience "
                                  "(affected, operations, customer) (did you mean 'affected'?)"),
        ({"audience": "customer"}, "audience: 'customer' is for order events, "
                                   "not 'incident.declared'"),
        ({"template": "Incident-Declared"}, "template: 'Incident-Declared' is not a template "
                                            "name ([a-z0-9_]+)"),
        ({"after": "90x"}, "after: '90x': unknown unit 'x'; use d, h, m or s"),
        ({"every": "0m"}, "every: '0m' must be longer than zero"),
        ({"min_gap": 3600}, "min_gap: expected a duration string such as '1h' or '30m', "
                            "got an integer (3600)"),
        ({"every": "1h", "max_times": 0}, "max_times: expected an integer of at least 1, "
                                          "got an integer (0)"),
        ({"every": "1h", "max_times": True}, "max_times: expected an integer of at least 1, "
                                             "got a boolean (True)"),
        ({"max_times": 3}, "max_times: only means something with 'every'"),
        ({"quiet_hours": "21:00-25:00"}, "quiet_hours: '21:00-25:00': '25:00' is not a time of "
                                         "day HH:MM (00:00-23:59)"),
        ({"quiet_hours": "9pm"}, "quiet_hours: '9pm' is not a window HH:MM-HH:MM "
                                 "(e.g. '21:00-08:00')"),
        ({"quiet_hours": "21:00-21:00"}, "quiet_hours: '21:00-21:00': start and end are the "
                                         "same time"),
        ({"enabled": "yes"}, "enabled: expected true or false, got a string"),
        ({"quiet_hours_email": 1}, "quiet_hours_email: expected true or false, "
                                   "got an integer (1)"),
        ({"fallback_channel": "sms"}, "fallback_channel: 'sms' is already in channels"),
        ({"fallback_channel": "pigeon", "channels": ["email"]},
         "fallback_channel: 'pigeon' is not a channel (email, sms, whatsapp)"),
        ({"description": ["a"]}, "description: expected a string, got an array"),
    ],
)
def test_field_errors(changes: dict[str, object], message: str) -> None:
    assert only_error(**changes) == f"{WHERE}: {message}"


def test_unknown_event_kind_suggests_the_close_one() -> None:
    assert only_error(on=["incident.declared", "incident.resolve"]) == (
        f"{WHERE}: on: unknown event kind 'incident.resolve' (did you mean 'incident.resolved'?)"
    )


def test_unknown_event_kind_lists_the_known_ones() -> None:
    error = only_error(on="payment.failed")
    assert error.startswith(f"{WHERE}: on: unknown event kind 'payment.failed' (known: ")
    assert all(kind in error for kind in EVENT_KINDS)


def test_event_kinds_of_the_brief_are_known() -> None:
    assert {"incident.eta_near", "incident.update_overdue", "order.out_for_delivery",
            "order.at_risk", "order.late"} <= EVENT_KINDS
    assert len(EVENT_KINDS) == 6 + 9 + 2


def test_customer_audience_fits_order_events() -> None:
    text = rule_toml(on=["order.delayed", "order.late"], audience="customer",
                     template="order_delayed")
    assert RuleSet.from_texts({"a.toml": text}).for_event("order.late")[0].audience == "customer"


def test_duplicate_names_across_files() -> None:
    errors = load_errors({"rules/b.toml": rule_toml(), "rules/a.toml": rule_toml()})
    assert errors == [
        "rules/b.toml: rule 'tell-affected': name: already used by a rule in rules/a.toml"
    ]


def test_bad_toml_gives_line_and_column() -> None:
    text = rule_toml() + "[[rule]]\nname = 'second'\non = \n"
    assert load_errors({"rules/incidents.toml": text}) == [
        "rules/incidents.toml: line 9, column 6: invalid TOML: Invalid value"
    ]


def test_top_level_shape_errors() -> None:
    assert load_errors({"a.toml": "[rules]\nname = 'x'\n"}) == [
        "a.toml: unknown top-level key 'rules': rules go in [[rule]] tables"
    ]
    assert load_errors({"a.toml": "[rule]\nname = 'x'\n"}) == [
        "a.toml: write [[rule]] (an array of tables), not [rule]"
    ]
    assert load_errors({"a.toml": "rule = [1]\n"}) == [
        "a.toml: rule #1: expected a table, got an integer (1)"
    ]


def test_every_error_of_every_file_is_reported_at_once() -> None:
    errors = load_errors({
        "a.toml": rule_toml(channels=["fax"]) + rule_toml(name="two", audience="all"),
        "b.toml": "not toml",
        "c.toml": rule_toml(name="three", after="soon"),
    })
    assert [error.split(":")[0] for error in errors] == ["a.toml", "a.toml", "b.toml", "c.toml"]


def test_rules_listen_in_file_order_and_disabled_ones_are_silent() -> None:
    rules = RuleSet.from_texts({
        "b.toml": rule_toml(name="b-first"),
        "a.toml": rule_toml(name="a-first") + rule_toml(name="a-off", enabled=False)
        + rule_toml(name="a-second", on=["incident.declared", "incident.updated"],
                    template="other"),
    })
    assert [r.name for r in rules.for_event("incident.declared")] == [
        "a-first", "a-second", "b-first"
    ]
    assert [r.name for r in rules.for_event("incident.updated")] == ["a-second"]
    assert rules.for_event("order.late") == []
    assert rules.templates() == {"incident_declared", "other"}
    assert len(rules) == 4


# --- conditions in rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("incident.severity ==", "does not parse: unexpected 'end of template'"),
        ("incident.severity = 'major'", "does not parse: unexpected '='"),
        ("incident.__class__", "refers to '__class__', a Python internal: conditions may only "
                               "read event data"),
        ("cycler.__init__.__globals__", "refers to '__globals__', a Python internal: "
                                        "conditions may only read event data"),
        ("''.__class__.__mro__", "refers to '__mro__', a Python internal: conditions may "
                                 "only read event data"),
        ("severity == 'major'", "unknown name 'severity' (did you mean 'incident.severity'?); "
                                "conditions can read company, event, incident, now, "
                                "order, update"),
        ("customer.locale == 'fr'", "unknown name 'customer'; conditions can read company, "
                                    "event, incident, now, order, update"),
        ("shipment.status", "unknown name 'shipment'; conditions can read company, "
                            "event, incident, now, order, update"),
        ("incident.sevrity == 'major'", "incident has no field 'sevrity' "
                                        "(did you mean 'severity'?)"),
        ("incident.eta > 3", "fails on a sample event: TypeError: '>' not supported between "
                             "instances of 'datetime.datetime' and 'int'"),
    ],
)
def test_when_errors(when: str, reason: str) -> None:
    assert only_error(when=when) == f"{WHERE}: when: {reason}"


def test_until_is_checked_like_when() -> None:
    error = only_error(every="1h", until="incident.__class__")
    assert error.startswith(f"{WHERE}: until: refers to '__class__'")


def test_a_condition_failing_at_run_time_names_its_rule() -> None:
    text = rule_toml(when="update.eta != None and update.eta > incident.declared_at")
    (rule,) = RuleSet.from_texts({"rules/incidents.toml": text}).rules
    assert rule.when is not None
    with pytest.raises(RuleError, match=rf"^{WHERE}: when: cannot evaluate 'update\.eta "):
        rule.when({"update": None, "incident": {}})


# --- files on disk -------------------------------------------------------------------------


def test_load_reads_toml_files_by_name_and_skips_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "b.toml").write_text(rule_toml(name="from-b"))
    (tmp_path / "a.toml").write_text(rule_toml(name="from-a"))
    (tmp_path / ".#a.toml").write_text("an editor's lock file")
    (tmp_path / "notes.txt").write_text("not a rule file")
    rules = RuleSet.load(tmp_path)
    assert [r.name for r in rules.rules] == ["from-a", "from-b"]
    assert rules.rules[0].source == str(tmp_path / "a.toml")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "ok.toml").write_text(rule_toml(name="fine"))
    (tmp_path / "latin1.toml").write_bytes(rule_toml().encode() + b'description = "Caf\xe9"\n')
    with pytest.raises(RuleSetError) as info:
        RuleSet.load(tmp_path)
    assert info.value.errors == [
        f"{tmp_path / 'latin1.toml'}: line 7: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    ]


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + rule_toml().encode())
    assert len(RuleSet.load(tmp_path)) == 1


def test_a_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="not a directory of rule files"):
        RuleSet.load(tmp_path / "nowhere")
    with pytest.raises(RuleSetError, match=r"no \*\.toml rule files"):
        RuleSet.load(tmp_path)
