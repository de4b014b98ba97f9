"""Lint refuses script, event handlers and javascript: links in every email's html block,
at their line; the same text in the plain-text block is only text."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.templating import lint_sources
from notifier.templating.layout import read_sources

SHIPPED = read_sources(Path(__file__).parents[2] / "templates")
EMAILS = sorted(p for p in SHIPPED if "/email." in p)

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "script in capitals": "<SCRIPT src=https://evil.example/x.js></SCRIPT>",
    "event handler": '<img src="x.png" onerror="alert(1)">',
    "event handler after a slash": "<svg/onload=alert(1)>",
    "javascript link": '<a href="javascript:alert(1)">Your account</a>',
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "script split by a tag": "<scr{% if true %}{% endif %}ipt>alert(1)</script>",
}


def _with_html(source: str, extra: str) -> tuple[str, int]:
    """The source with `extra` on a line of its own just inside the html block."""
    head, marker, tail = source.partition("{% block html %}")
    assert marker, "an email template has an html block"
    line = head.count("\n") + 2
    return f"{head}{marker}\n{extra}\n{tail}", line


@pytest.mark.parametrize("path", EMAILS)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_active_content_in_any_email_html_is_an_error_at_its_line(path: str, name: str) -> None:
    source, line = _with_html(SHIPPED[path], HOSTILE[name])
    errors = [i for i in lint_sources({path: source}) if i.severity == "error"]
    assert errors, name
    assert all(i.file == path and i.line == line for i in errors), errors
    assert all("not allowed in an email's html" in i.message for i in errors), errors


def test_the_same_words_in_the_text_block_are_only_text() -> None:
    path = EMAILS[0]
    source = SHIPPED[path].replace(
        "{% block text %}", "{% block text %}Never click a javascript: link, or <script>.\n", 1
    )
    assert source != SHIPPED[path]
    assert [i for i in lint_sources({path: source}) if i.severity == "error"] == []


@pytest.mark.parametrize("path", EMAILS)
def test_the_shipped_emails_pass(path: str) -> None:
    assert [i for i in lint_sources({path: SHIPPED[path]}) if i.severity == "error"] == []
