"""Rendering through the catalog: locales, dates, escaping, strictness, the file layout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.errors import TemplateError
from notifier.templating import TemplateCatalog, TemplateFileError, sample_context

EMAIL_EN = """\
{% block subject %}Outage: {{ incident.title }}{% endblock %}
{% block text %}

Hello {{ customer.name }},
Fixed by {{ incident.eta | datetime("short") }}.

{% endblock %}
{% block html %}<p>Hello {{ customer.name }}</p>{% endblock %}
"""
EMAIL_FR = """\
{% block subject %}Panne : {{ incident.title }}{% endblock %}
{% block text %}Bonjour {{ customer.name }}, retour prévu à {{ incident.eta | time }}.{% endblock %}
{% block html %}<p>Bonjour {{ customer.name }}</p>{% endblock %}
"""
SMS_EN = "  {{ company.name }}: {{ incident.title }}\n\n"
SMS_FR = "{{ company.name }} : {{ incident.title }}, retour {{ incident.eta | until }}"


def context(locale: str = "en", timezone: str = "UTC", **incident: Any) -> dict[str, Any]:
    ctx = sample_context(locale)
    ctx["customer"].update(locale=locale, timezone=timezone)
    ctx["incident"].update(incident)
    return ctx


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.from_sources(
        {
            "outage/email.en.j2": EMAIL_EN,
            "outage/email.fr.j2": EMAIL_FR,
            "outage/sms.en.j2": SMS_EN,
            "outage/sms.fr.j2": SMS_FR,
            "outage/sms.fr_CA.j2": "Québec: {{ incident.title }}",
        }
    )


def test_email_has_three_parts_with_blank_edges_stripped(catalog: TemplateCatalog) -> None:
    eta = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    msg = catalog.render("outage", ChannelName.EMAIL, "en", context(title="No signal", eta=eta))
    assert msg == RenderedMessage(
        channel=ChannelName.EMAIL,
        subject="Outage: No signal",
        text="Hello Jordan Lee,\nFixed by 3/1/26, 6:00\u202fPM.",  # CLDR's narrow space
        html="<p>Hello Jordan Lee</p>",
    )


def test_sms_is_plain_stripped_text(catalog: TemplateCatalog) -> None:
    msg = catalog.render("outage", ChannelName.SMS, "en", context(title="No signal"))
    assert msg == RenderedMessage(channel=ChannelName.SMS, text="XM Radio: No signal")


def test_sms_replaces_cldr_no_break_spaces() -> None:
    catalog = TemplateCatalog.from_sources({"m/sms.en.j2": "{{ incident.eta | time }}"})
    ctx = context(eta=datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    assert catalog.render("m", ChannelName.SMS, "en", ctx).text == "6:00 PM"  # GSM-7 space


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr", "XM Radio : Panne, retour dans 18 heures"),
        ("fr_BE", "XM Radio : Panne, retour dans 18 heures"),  # no fr_BE file: fr
        ("fr-be", "XM Radio : Panne, retour dans 18 heures"),
        ("fr_CA.UTF-8", "Québec: Panne"),
        ("FR-ca", "Québec: Panne"),
        ("fr_CA", "Québec: Panne"),  # the more specific file wins
        ("de", "XM Radio: Panne"),  # no German at all: the default locale
        ("", "XM Radio: Panne"),
    ],
)
def test_locale_fallback(catalog: TemplateCatalog, locale: str, expected: str) -> None:
    ctx = context("fr", eta=datetime(2026, 3, 1, 18, 0, tzinfo=UTC), title="Panne")
    ctx["now"] = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert catalog.render("outage", ChannelName.SMS, locale, ctx).text == expected


def test_default_locale_is_configurable() -> None:
    catalog = TemplateCatalog.from_sources(
        {"outage/sms.fr.j2": "fr", "outage/sms.en.j2": "en"}, default_locale="fr"
    )
    assert catalog.render("outage", ChannelName.SMS, "de", context()).text == "fr"


def test_eta_shows_in_the_customers_timezone_and_language(catalog: TemplateCatalog) -> None:
    eta = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    msg = catalog.render("outage", ChannelName.EMAIL, "fr", context("fr", "Europe/Paris", eta=eta))
    assert msg.text == "Bonjour Camille Martin, retour prévu à 19:00."


def test_naive_datetimes_are_utc(catalog: TemplateCatalog) -> None:
    msg = catalog.render(
        "outage",
        ChannelName.EMAIL,
        "fr",
        context("fr", "Europe/Paris", eta=datetime(2026, 7, 1, 18, 0)),
    )
    assert "20:00" in msg.text  # summer time in Paris: UTC+2


def test_html_block_is_escaped_and_text_is_not(catalog: TemplateCatalog) -> None:
    ctx = context()
    ctx["customer"]["name"] = "<script>alert(1)</script>"
    msg = catalog.render("outage", ChannelName.EMAIL, "en", ctx)
    assert msg.html == "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert msg.text.startswith("Hello <script>alert(1)</script>,")
    assert msg.subject is not None and "&lt;" not in msg.subject


def test_subject_never_carries_a_line_break() -> None:
    catalog = TemplateCatalog.from_sources(
        {
            "m/email.en.j2": "{% block subject %}\n  Outage:\n {{ incident.title }}  \n"
            "{% endblock %}{% block text %}t{% endblock %}{% block html %}h{% endblock %}"
        }
    )
    title = "Bcc: x@example.com\r\nInjected:\theader\x0bhere\u2028now"
    msg = catalog.render("m", ChannelName.EMAIL, "en", context(title=title))
    assert msg.subject == "Outage: Bcc: x@example.com Injected: header here now"


def test_a_missing_attribute_is_an_error_with_file_and_line() -> None:
    catalog = TemplateCatalog.from_sources(
        {"m/sms.en.j2": "Hello\n{{ customer.name }}\n{{ incident.titel }}"}
    )
    with pytest.raises(TemplateFileError) as caught:
        catalog.render("m", ChannelName.SMS, "en", context())
    assert caught.value.file == "m/sms.en.j2"
    assert caught.value.line == 3
    assert "titel" in caught.value.reason
    assert str(caught.value).startswith("m/sms.en.j2: line 3: ")


def test_printing_none_is_an_error_unless_guarded() -> None:
    catalog = TemplateCatalog.from_sources(
        {
            "bare/sms.en.j2": "Workaround: {{ incident.workaround }}",
            "guarded/sms.en.j2": "Hi.{% if incident.workaround %} {{ incident.workaround }}"
            "{% endif %}",
            "date/sms.en.j2": "ETA {{ incident.eta | datetime }}",
        }
    )
    ctx = context(workaround=None, eta=None)
    with pytest.raises(TemplateError, match=r"bare/sms\.en\.j2: line 1: prints None"):
        catalog.render("bare", ChannelName.SMS, "en", ctx)
    with pytest.raises(TemplateError, match=r"date/sms\.en\.j2: line 1: datetime got None"):
        catalog.render("date", ChannelName.SMS, "en", ctx)
    assert catalog.render("guarded", ChannelName.SMS, "en", ctx).text == "Hi."


def test_top_level_macros_and_sets_reach_every_block() -> None:
    source = """\
{% set greeting = "Hello" %}
{% macro hello() %}{{ greeting }} {{ customer.name }}{% endmacro %}
ignored text outside the blocks
{% block subject %}{{ hello() }}{% endblock %}
{% block text %}{{ hello() }}!{% endblock %}
{% block html %}<b>{{ hello() }}</b>{% endblock %}
"""
    catalog = TemplateCatalog.from_sources({"m/email.en.j2": source})
    ctx = context()
    ctx["customer"]["name"] = "A&B"
    msg = catalog.render("m", ChannelName.EMAIL, "en", ctx)
    assert (msg.subject, msg.text, msg.html) == ("Hello A&B", "Hello A&B!", "<b>Hello A&amp;B</b>")


def test_unknown_message_or_channel_is_an_error(catalog: TemplateCatalog) -> None:
    with pytest.raises(TemplateError, match="no email template for message 'nope'"):
        catalog.render("nope", ChannelName.EMAIL, "en", context())
    sms_only = TemplateCatalog.from_sources({"m/sms.en.j2": "x"})
    with pytest.raises(TemplateError, match="no email template"):
        sms_only.render("m", ChannelName.EMAIL, "en", context())
    with pytest.raises(TemplateError, match="no push template"):
        sms_only.render("m", "push", "en", context())  # type: ignore[arg-type]


def test_catalog_queries(catalog: TemplateCatalog) -> None:
    assert catalog.messages() == ["outage"]
    assert catalog.has("outage", ChannelName.SMS)
    assert not catalog.has("other", ChannelName.SMS)
    assert catalog.locales("outage", ChannelName.SMS) == ["en", "fr", "fr_CA"]
    assert catalog.locales("outage", ChannelName.EMAIL) == ["en", "fr"]
    assert catalog.source("outage", ChannelName.SMS, "fr") == SMS_FR
    with pytest.raises(TemplateError):
        catalog.source("outage", ChannelName.SMS, "de")


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ({"m/email.en.j2": "{% block subject %}s{% endblock %}"}, r"m/email.en.j2: .*html"),
        ({"m/sms.en.j2": "ok", "m/sms.en.j2.bak": "x"}, r"m/sms.en.j2.bak: name does not"),
        ({"M/sms.en.j2": "x"}, r"M/sms.en.j2: name does not"),
        ({"m/push.en.j2": "x"}, r"m/push.en.j2: name does not"),
        ({"m/sms.english.j2": "x"}, r"name does not"),
        ({"m/sms.en.j2": "a\n{% if %}"}, r"m/sms.en.j2: line 2: "),
        ({"m/sms.en.j2": "{{ x | nosuchfilter }}"}, r"m/sms.en.j2: line 1: .*nosuchfilter"),
        ({"m/sms.en.j2": "x" * 70_000}, r"longer than 65536"),
        ({"m/sms.en.j2": "a\n{% include 'secrets.txt' %}"}, r"line 2: extends, include and"),
        ({"m/sms.en.j2": "{% extends 'base.j2' %}"}, r"line 1: extends, include and"),
        ({"m/sms.en.j2": "{% from 'x' import y %}"}, r"line 1: extends, include and"),
    ],
)
def test_broken_files_are_refused_at_load(sources: dict[str, str], expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        TemplateCatalog.from_sources(sources)


def test_from_directory_reads_the_layout(tmp_path: Any) -> None:
    (tmp_path / "outage").mkdir()
    (tmp_path / "outage" / "sms.en.j2").write_text("{{ incident.title }}", encoding="utf-8")
    (tmp_path / "README.md").write_text("not a template", encoding="utf-8")
    catalog = TemplateCatalog.from_directory(tmp_path)
    assert catalog.messages() == ["outage"]
    assert catalog.render("outage", ChannelName.SMS, "en", context(title="T")).text == "T"


def test_each_render_gets_a_fresh_budget() -> None:
    # 3,000 iterations per render: fine each time, although 10 renders add up to 30,000.
    catalog = TemplateCatalog.from_sources(
        {"m/sms.en.j2": "{% for i in range(3000) %}{% endfor %}ok"}
    )
    for _ in range(10):
        assert catalog.render("m", ChannelName.SMS, "en", context()).text == "ok"
