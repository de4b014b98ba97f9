"""Validation of one customer row (notifier.domain.customers): no database."""

from __future__ import annotations

import pytest

from notifier.domain.customers import (
    Customer,
    customer_from_record,
    normalize_email,
    normalize_phone,
    validate_locale,
    validate_timezone,
)
from notifier.domain.messages import ChannelName

DEFAULTS = {"default_region": "US", "default_locale": "en", "default_timezone": "America/New_York"}


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 201 555 0123", "FR", "+12015550123"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        (" +33 7 81 23 45 67 ", "US", "+33781234567"),
        ("+44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_normalize_phone(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("12345", "US", "'12345': too short for a US number \\(it has no \\+country code\\)"),
        # a French mobile without +33
        ("06 12 34 56 78", "US", "not a valid US number \\(it has no \\+country code\\)"),
        # A number that names its country is judged in that country's plan, not the
        # default region's.
        ("+44 20 7946 000", "US", "'\\+44 20 7946 000': not a valid \\+44 \\(GB\\) number"),
        ("+44 7911 1234567", "US", "too long for a \\+44 \\(GB\\) number"),
        ("+33 6 12", "US", "too short for a \\+33 \\(FR\\) number"),
        ("+1 202 555 010", "FR", "too short for a \\+1 \\(US\\) number"),
        ("555 0100", "US", "missing its area code for a US number"),
        ("call me", "US", "not a phone number"),
        ("+999 1234", "US", "unknown country code"),
        ("2015550123", "ZZ", "unknown country code"),
    ],
)
def test_normalize_phone_refuses(raw: str, region: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        normalize_phone(raw, region)
    if raw.startswith("+"):
        # The default region has nothing to do with a number that names its own country.
        assert f"{region} number" not in str(info.value)


def test_normalize_email() -> None:
    assert normalize_email("  Bob.Smith@Example.COM ") == "Bob.Smith@example.com"
    assert normalize_email("a+tag@sub.example.fr") == "a+tag@sub.example.fr"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("bob", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("a b@example.com", "space or control"),
        ("a@example.com\r\nBcc: x@evil.com", "space or control"),
        ("<a@example.com>", "contains one of"),
        ("a@example.com,b@example.com", "contains one of"),
        ("@example.com", "before @"),
        ("a@localhost", "domain needs a dot"),
        ("a@example..com", "domain needs a dot"),
        ("a@" + "x" * 320 + ".com", "longer than 320"),
    ],
)
def test_normalize_email_refuses(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("fr", "fr"), ("fr_FR", "fr_FR"), ("fr-FR", "fr_FR"), ("fr-fr", "fr_FR"), ("en_US", "en_US")],
)
def test_validate_locale(raw: str, expected: str) -> None:
    assert validate_locale(raw) == expected


@pytest.mark.parametrize("raw", ["xx", "klingon", "", "fr_FR_XX_YY"])
def test_validate_locale_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        validate_locale(raw)


def test_validate_timezone() -> None:
    assert validate_timezone("Europe/Paris") == "Europe/Paris"
    assert validate_timezone("america/new_york") == "America/New_York"
    assert validate_timezone("UTC") == "UTC"
    for bad in ("Mars/Base", "America", "../../etc/passwd", "", "+01:00"):
        with pytest.raises(ValueError, match="unknown timezone"):
            validate_timezone(bad)


def test_can_receive_and_context() -> None:
    customer = Customer(
        id="c1",
        name="Alice",
        email="a@example.com",
        phone=None,
        locale="en",
        timezone="UTC",
        services=frozenset({"radio"}),
        opt_outs=frozenset({"email"}),
    )
    assert customer.can_receive(ChannelName.EMAIL, "email") == (False, "opted out of email")
    assert customer.can_receive(ChannelName.SMS, "phone") == (False, "no phone number")
    reachable = Customer("c2", "Bob", None, "+12015550123", "en", "UTC")
    assert reachable.can_receive(ChannelName.SMS, "phone") == (True, None)
    assert reachable.can_receive(ChannelName.EMAIL, "email") == (False, "no email address")
    assert customer.as_context() == {
        "id": "c1",
        "name": "Alice",
        "email": "a@example.com",
        "phone": None,
        "locale": "en",
        "timezone": "UTC",
    }


def test_record_defaults_and_blanks() -> None:
    customer = customer_from_record(
        {
            "id": " c1 ",
            "name": " Alice ",
            "email": "",
            "phone": "  ",
            "locale": "",
            "timezone": None,
            "services": " radio ; ;web;radio",
            "opt_out": "",
        },
        **DEFAULTS,
    )
    assert customer == Customer(
        "c1", "Alice", None, None, "en", "America/New_York", frozenset({"radio", "web"})
    )


def test_record_lists_every_problem() -> None:
    with pytest.raises(ValueError) as caught:
        customer_from_record(
            {
                "id": "x" * 129,
                "name": "A\tB",
                "email": "nope",
                "phone": "1",
                "services": ["ok", "s" * 129],
            },
            **DEFAULTS,
        )
    assert str(caught.value).split("; ") == [
        "id is longer than 128 characters",
        "name contains a control character (line break, tab...)",
        "invalid email 'nope': needs exactly one @",
        "invalid phone number '1': not a phone number",
        "invalid service 'ssssssssssssssssssssssssssssssssssssssss': too long or has a "
        "control character",
    ]
