"""The Babel date filters: customer timezone and language, fallbacks, clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from notifier.domain.messages import ChannelName
from notifier.errors import TemplateError
from notifier.templating import TemplateCatalog

ETA = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def render(source: str, locale: str = "en", timezone: str = "UTC", **values: Any) -> str:
    catalog = TemplateCatalog.from_sources(
        {
            "m/email.en.j2": (
                "{% block subject %}s{% endblock %}{% block html %}h{% endblock %}"
                "{% block text %}" + source + "{% endblock %}"
            )
        }
    )
    context = {
        "customer": {"locale": locale, "timezone": timezone},
        "incident": {"eta": values.pop("eta", ETA)},
        "now": values.pop("now", NOW),
        **values,
    }
    return catalog.render("m", ChannelName.EMAIL, "en", context).text


@pytest.mark.parametrize(
    ("source", "locale", "timezone", "expected"),
    [
        ("{{ incident.eta | datetime }}", "fr", "Europe/Paris", "1 mars 2026, 19:00:00"),
        ("{{ incident.eta | datetime }}", "en", "America/New_York", "Mar 1, 2026, 1:00:00\u202fPM"),
        ("{{ incident.eta | datetime('short') }}", "fr", "Europe/Paris", "01/03/2026 19:00"),
        ("{{ incident.eta | datetime('EEEE HH:mm') }}", "fr", "Europe/Paris", "dimanche 19:00"),
        ("{{ incident.eta | date('long') }}", "fr", "Europe/Paris", "1 mars 2026"),
        ("{{ incident.eta | date('long') }}", "en", "Pacific/Kiritimati", "March 2, 2026"),
        ("{{ incident.eta | time }}", "fr", "Europe/Paris", "19:00"),
        ("{{ incident.eta | time('full') }}", "fr", "UTC", "18:00:00 temps universel coordonné"),
        ("{{ incident.eta | until }}", "en", "UTC", "in 18 hours"),
        ("{{ incident.eta | until }}", "fr", "UTC", "dans 18 heures"),
        ("{{ incident.eta | until }}", "fr_CA", "UTC", "dans 18 heures"),
        ("{{ incident.eta | datetime('short') }}", "xx_YY", "Mars/Olympus", "3/1/26, 6:00\u202fPM"),
        ("{{ incident.eta | datetime('short') }}", None, None, "3/1/26, 6:00\u202fPM"),
        (
            "{{ incident.eta | datetime('short') }}",
            "fr-CA",
            "America/Toronto",
            "2026-03-01 13 h 00",
        ),
    ],
)
def test_date_filters(source: str, locale: str, timezone: str, expected: str) -> None:
    assert render(source, locale, timezone) == expected


def test_until_reads_as_past_when_the_time_has_gone() -> None:
    assert render("{{ incident.eta | until }}", now=ETA + timedelta(hours=3)) == "3 hours ago"


def test_naive_and_iso_values_are_utc() -> None:
    naive = datetime(2026, 3, 1, 18, 0)
    assert render("{{ incident.eta | time }}", "fr", "Europe/Paris", eta=naive) == "19:00"
    iso = "2026-03-01T18:00:00+00:00"
    assert render("{{ incident.eta | time }}", "fr", "Europe/Paris", eta=iso) == "19:00"


def test_a_calendar_date_is_not_shifted_by_the_timezone() -> None:
    order = {"promised_date": date(2026, 3, 4)}
    source = "{{ order.promised_date | date('long') }}"
    assert render(source, "en", "Pacific/Kiritimati", order=order) == "March 4, 2026"


def test_timedelta_filter() -> None:
    source = "{{ (incident.eta - now) | timedelta }} / {{ 5400 | timedelta('short') }}"
    assert render(source, "fr") == "18\xa0heures / 2\u202fh"  # CLDR no-break spaces


@pytest.mark.parametrize(
    ("source", "values", "message"),
    [
        ("{{ incident.eta | datetime }}", {"eta": None}, "datetime got None"),
        ("{{ incident.eta | until }}", {"eta": "soon"}, "until got 'soon'"),
        ("{{ incident.eta | date }}", {"eta": 12}, "date got a int"),
        ("{{ incident.nope | time }}", {}, "has no attribute 'nope'"),
        ("{{ incident.eta | timedelta }}", {}, "timedelta got a datetime"),
        ("{{ 60 | timedelta('huge') }}", {}, "timedelta format must be one of"),
        ("{{ incident.eta | datetime('') }}", {}, "date format must be"),
    ],
)
def test_filter_errors_are_template_errors(
    source: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        render(source, **values)


def test_an_iso_calendar_date_string_is_not_shifted_by_the_time_zone() -> None:
    from notifier.domain.messages import ChannelName
    from notifier.templating.catalog import TemplateCatalog

    catalog = TemplateCatalog.from_sources(
        {"d/sms.en.j2": "{{ event.payload.promised_date | date('long') }}"}
    )
    context = {
        "customer": {"locale": "en", "timezone": "America/Los_Angeles", "name": "x"},
        "event": {"payload": {"promised_date": "2026-03-04"}},
    }
    assert catalog.render("d", ChannelName.SMS, "en", context).text == "March 4, 2026"
