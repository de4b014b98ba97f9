"""Customers: who can be told what, and how their contact data is validated.

Pure code, no I/O. Contact data is normalised once, at import, so that every later
comparison (re-imports, opt-outs arriving from Twilio by E.164 number) is exact.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal
from zoneinfo import available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError

from notifier.domain.messages import ChannelName

# Column sizes of the `customers` table: longer values would fail a whole batch in the
# database, so they are refused row by row here.
MAX_ID = 128
MAX_NAME = 256
MAX_EMAIL = 320
MAX_SERVICE = 128

# The fields of an import row (CSV columns, JSON keys, HTTP payload keys).
REQUIRED_FIELDS = ("id", "name", "email", "phone", "locale", "timezone", "services")
OPTIONAL_FIELDS = ("opt_out",)
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS

# Opt-out categories: what a message is about. A customer may decline a channel for one
# category (incident news by SMS) and keep it for another; the store keeps "*" for all.
INCIDENTS = "incidents"
ORDERS = "orders"
CATEGORIES = (INCIDENTS, ORDERS)
_CATEGORY_OF = {"incident": INCIDENTS, "order": ORDERS}


def category_of(subject_type: str) -> str | None:
    """The opt-out category of messages about a subject type ("incident" -> "incidents")."""
    return _CATEGORY_OF.get(subject_type)


# The contact fields a channel may send to (a channel class names its own), and the reason
# a message is suppressed when the customer has none.
ContactField = Literal["email", "phone"]
NO_ADDRESS: dict[ContactField, str] = {"email": "no email address", "phone": "no phone number"}


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer as the planner sees them.

    `opt_outs` holds the channels they declined for every category ("*") and for the
    category they were loaded for (the store's `category` argument): a customer read for an
    incident fan-out carries their "*" and "incidents" opt-outs, so `can_receive` answers
    for that category.
    """

    id: str
    name: str
    email: str | None
    phone: str | None  # E.164
    locale: str
    timezone: str
    services: frozenset[str] = field(default_factory=frozenset)
    opt_outs: frozenset[str] = field(default_factory=frozenset)

    def address(self, field: ContactField) -> str | None:
        addresses: dict[ContactField, str | None] = {"email": self.email, "phone": self.phone}
        return addresses[field]

    def can_receive(self, channel: ChannelName, via: ContactField) -> tuple[bool, str | None]:
        """(True, None), or (False, why not): the reason is stored on a suppressed message.

        `via` is the contact field the channel sends to (its class's `address_field`).
        """
        channel = ChannelName(channel)
        if not self.address(via):
            return False, NO_ADDRESS[via]
        if channel.value in self.opt_outs:
            return False, f"opted out of {channel.value}"
        return True, None

    def as_context(self) -> dict[str, Any]:
        """What templates may read about the customer (services and opt-outs stay private)."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "locale": self.locale,
            "timezone": self.timezone,
        }


_PARSE_ERRORS = {
    # Raised for "+<unknown code>...", or for a national number when the default region
    # is not a region phonenumbers knows.
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def normalize_phone(raw: str, default_region: str) -> str:
    """`raw` in E.164 (+33612345678); numbers without +country are read in `default_region`.

    Valid means the number plan allows it, not that the line is in service.
    """
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, default_region, keep_raw_input=True)
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "cannot be read")
        raise ValueError(f"invalid phone number {text!r}: {why}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"invalid phone number {text!r}: {_why_invalid(number, default_region)}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


_NOT_POSSIBLE = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "the wrong length",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "missing its area code",
}


def _why_invalid(number: phonenumbers.PhoneNumber, default_region: str) -> str:
    """The problem with the number as written: its length or its digits, for the country
    it names (+44...), or for the default region when it names none."""
    why = _NOT_POSSIBLE.get(phonenumbers.is_possible_number_with_reason(number))
    source = phonenumbers.CountryCodeSource
    code = number.country_code
    if code is None or number.country_code_source in (
        source.FROM_DEFAULT_COUNTRY,
        source.UNSPECIFIED,
    ):
        plan = f"{default_region} number (it has no +country code)"
    else:
        plan = f"+{code} ({phonenumbers.region_code_for_country_code(code)}) number"
    if why is None:  # the right length, but no such number range
        return f"not a valid {plan}: check the digits"
    return f"{why} for a {plan}"


# Legal only in quoted local parts, which nobody uses on purpose; in a header they would
# split or hide the recipient, so a file holding them is a file with a mistake.
_EMAIL_FORBIDDEN = set('<>()[],;:"\\')


def normalize_email(raw: str) -> str:
    """A sanity check, not RFC 5322: one @, no spaces or controls, a dotted domain.

    The domain is lowercased (it is case-insensitive); the local part is kept as given.
    """
    text = raw.strip()
    if len(text) > MAX_EMAIL:
        raise ValueError(f"invalid email: longer than {MAX_EMAIL} characters")
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in text):
        raise ValueError(f"invalid email {text!r}: contains a space or control character")
    if any(c in _EMAIL_FORBIDDEN for c in text):
        raise ValueError(
            f"invalid email {text!r}: contains one of {''.join(sorted(_EMAIL_FORBIDDEN))}"
        )
    if text.count("@") != 1:
        raise ValueError(f"invalid email {text!r}: needs exactly one @")
    local, domain = text.split("@")
    if not local or len(local) > 64:
        raise ValueError(f"invalid email {text!r}: the part before @ must have 1 to 64 characters")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise ValueError(f"invalid email {text!r}: the domain needs a dot between non-empty names")
    return f"{local}@{domain.lower()}"


def validate_locale(raw: str) -> str:
    """`fr`, `fr_FR`, `fr-FR` or `fr-fr` -> Babel's canonical `fr` / `fr_FR`."""
    text = raw.strip()
    try:
        return str(Locale.parse(text, sep="-" if "-" in text else "_"))
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"unknown locale {text!r}") from None


@cache
def _timezones() -> dict[str, str]:
    # available_timezones() scans the tz database: read it once. Keyed by lower case so that
    # "europe/paris" is accepted and stored as the canonical "Europe/Paris".
    return {name.lower(): name for name in available_timezones()}


def validate_timezone(raw: str) -> str:
    """An IANA zone name such as `Europe/Paris`, returned in its canonical spelling.

    Checked against the list of zones rather than by opening one: ZoneInfo would accept
    file-system oddities that other machines may not have.
    """
    text = raw.strip()
    try:
        return _timezones()[text.lower()]
    except KeyError:
        raise ValueError(f"unknown timezone {text!r}") from None


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages about wrong types."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _text(record: Mapping[str, object], key: str) -> str:
    """The field as stripped text; absent, null and blank all mean empty."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {json_type(value)}")
    return value.strip()


def _names(record: Mapping[str, object], key: str) -> frozenset[str]:
    """A list of strings or one `;`-separated string -> a set without blanks."""
    value = record.get(key)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        items: list[object] = list(value.split(";"))
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(f"{key} must be a list or a ';'-separated string, got {json_type(value)}")
    if any(not isinstance(item, str) for item in items):
        raise ValueError(f"{key} must hold strings only")
    return frozenset(text for item in items if (text := str(item).strip()))


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def customer_from_record(
    record: Mapping[str, object],
    *,
    default_region: str,
    default_locale: str,
    default_timezone: str,
) -> Customer:
    """Validate one import row (CSV, JSON or HTTP) into a Customer.

    Raises ValueError listing every problem of the row, separated by "; ", so one pass
    over a file finds all of them. Empty email or phone means the customer has none;
    empty locale or timezone take the defaults.
    """
    problems: list[str] = []
    if unknown := sorted(set(record) - set(ALL_FIELDS)):
        problems.append("unknown field(s) " + ", ".join(map(repr, unknown)))
    text: dict[str, str] = {}  # fields of the right type, stripped
    names: dict[str, frozenset[str]] = {}
    for key in ALL_FIELDS:
        try:
            if key in ("services", "opt_out"):
                names[key] = _names(record, key)
            else:
                text[key] = _text(record, key)
        except ValueError as exc:
            problems.append(str(exc))

    def normalized(key: str, normalize: Callable[[str], str], default: str = "") -> str:
        value = text.get(key)
        if value is None or not (value or default):
            return ""
        try:
            return normalize(value or default)
        except ValueError as exc:
            problems.append(str(exc))
            return ""

    for key, limit in (("id", MAX_ID), ("name", MAX_NAME)):
        value = text.get(key)
        if value == "":
            problems.append(f"missing {key}")
        elif value is not None and len(value) > limit:
            problems.append(f"{key} is longer than {limit} characters")
        elif value is not None and _has_control(value):
            problems.append(f"{key} contains a control character (line break, tab...)")
    if "/" in (text.get("id") or ""):
        # Taken, it could never be read back: /api/customers/a/b is another address.
        problems.append("id must not contain '/' (ids are used in addresses such as /u/...)")
    email = normalized("email", normalize_email)
    phone = normalized("phone", lambda raw: normalize_phone(raw, default_region))
    locale = normalized("locale", validate_locale, default_locale)
    timezone = normalized("timezone", validate_timezone, default_timezone)
    services = names.get("services", frozenset())
    for service in sorted(services):
        if len(service) > MAX_SERVICE or _has_control(service):
            problems.append(
                f"invalid service {service[:40]!r}: too long or has a control character"
            )
    opt_outs = frozenset(channel.lower() for channel in names.get("opt_out", ()))
    known = {c.value for c in ChannelName}
    *others, last = sorted(known)
    expected = f"{', '.join(others)} or {last}" if others else last
    for channel in sorted(opt_outs - known):
        problems.append(f"unknown opt_out channel {channel!r} (expected {expected})")
    if problems:
        raise ValueError("; ".join(problems))
    return Customer(
        id=text["id"],
        name=text["name"],
        email=email or None,
        phone=phone or None,
        locale=locale,
        timezone=timezone,
        services=services,
        opt_outs=opt_outs,
    )
