"""Lint: precise, located findings, and a clean bill for the shipped templates."""

from __future__ import annotations

from pathlib import Path

from notifier.templating import LintIssue, lint_directory, lint_sources

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
EMAIL_TAIL = "{% block subject %}s{% endblock %}{% block text %}t{% endblock %}"


def errors(issues: list[LintIssue]) -> list[LintIssue]:
    return [issue for issue in issues if issue.severity == "error"]


def test_the_shipped_templates_have_no_errors() -> None:
    issues = lint_directory(SHIPPED)
    assert errors(issues) == []
    messages = {path.parent.name for path in SHIPPED.glob("*/*.j2")}
    assert messages >= {"incident_declared", "incident_updated", "incident_resolved"}


def test_the_shipped_templates_cover_en_and_fr_on_both_channels() -> None:
    names = {p.relative_to(SHIPPED).as_posix() for p in SHIPPED.glob("*/*.j2")}
    for message in ("incident_declared", "incident_updated", "incident_resolved"):
        for channel in ("email", "sms"):
            for locale in ("en", "fr"):
                assert f"{message}/{channel}.{locale}.j2" in names


def test_syntax_error_at_its_line() -> None:
    source = "Hello\n{{ customer.name }}\n{% if incident.eta %}\nno endif\n"
    issues = lint_sources({"m/sms.en.j2": source})
    assert len(issues) == 1
    assert (issues[0].file, issues[0].line, issues[0].severity) == ("m/sms.en.j2", 4, "error")
    assert "syntax error" in issues[0].message and "endif" in issues[0].message


def test_unknown_name_with_its_line() -> None:
    source = (
        "{% set known = 1 %}{% macro m() %}x{% endmacro %}\n{{ known }}{{ m() }}\n"
        "{{ custmer.name }}"
    )
    issues = lint_sources({"m/sms.en.j2": source})
    assert [(i.line, i.severity) for i in issues] == [(3, "error")]
    assert "unknown name 'custmer'" in issues[0].message
    assert "customer" in issues[0].message  # the provided names are listed


def test_missing_attribute_found_by_rendering_the_sample() -> None:
    issues = lint_sources({"m/sms.en.j2": "{{ incident.title }}\n\n{{ incident.titel }}"})
    assert [(i.line, i.severity) for i in issues] == [(3, "error")]
    assert "titel" in issues[0].message


def test_unguarded_optional_value_found_with_the_sparse_sample() -> None:
    source = "Fixed by {{ incident.eta | datetime }}.\n{{ incident.workaround }}"
    issues = lint_sources({"m/sms.en.j2": source})
    assert len(issues) == 1
    assert (issues[0].line, issues[0].severity) == (1, "error")
    assert "datetime got None" in issues[0].message
    assert "optional fields empty" in issues[0].message


def test_email_missing_a_block() -> None:
    issues = lint_sources({"m/email.en.j2": EMAIL_TAIL})
    assert [(i.file, i.severity) for i in issues] == [("m/email.en.j2", "error")]
    assert "{% block html %}" in issues[0].message


def test_sms_over_two_segments_is_an_error() -> None:
    issues = lint_sources({"m/sms.en.j2": "{{ 'x' * 307 }}"})
    assert [(i.severity, i.message) for i in issues] == [
        ("error", "the sample SMS takes 3 segments (307 GSM-7 units); keep it to 2")
    ]
    assert lint_sources({"m/sms.en.j2": "{{ 'x' * 306 }}"}) == []


def test_ucs2_sms_is_a_warning_naming_the_characters() -> None:
    issues = lint_sources(
        {"m/sms.fr.j2": "Réparation prévue : bientôt, ça arrive.", "m/sms.en.j2": "x"}
    )
    assert [(i.file, i.severity) for i in issues] == [("m/sms.fr.j2", "warning")]
    assert "UCS-2" in issues[0].message
    assert "'ô' 'ç' in the template text" in issues[0].message


def test_bad_file_names_and_missing_default_locale() -> None:
    issues = lint_sources(
        {
            "Incident/sms.en.j2": "x",
            "m/sms.english.j2": "x",
            "m/fax.en.j2": "x",  # no such channel
            "m/sms.fr.j2": "x",
        }
    )
    assert [(i.file, i.severity) for i in issues] == [
        ("Incident/sms.en.j2", "error"),
        ("m/fax.en.j2", "error"),
        ("m/sms.english.j2", "error"),
        ("m/sms.en.j2", "warning"),  # fr only: an es customer would get nothing
    ]


def test_lint_directory_reports_stray_files(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "sms.en.j2").write_text("{{ company.name }}", encoding="utf-8")
    (tmp_path / "m" / "notes.txt").write_text("todo", encoding="utf-8")
    (tmp_path / "m" / ".sms.en.j2.swp").write_text("editor junk", encoding="utf-8")
    (tmp_path / "loose.j2").write_text("x", encoding="utf-8")
    issues = lint_directory(tmp_path)
    assert [(i.file, i.severity) for i in issues] == [
        ("m/notes.txt", "warning"),
        ("loose.j2", "error"),
    ]


def test_issue_prints_like_a_compiler_message() -> None:
    issue = LintIssue("m/sms.en.j2", 3, "error", "unknown name 'x'")
    assert str(issue) == "m/sms.en.j2:3: error: unknown name 'x'"


def test_a_whatsapp_text_is_measured_in_characters_not_segments() -> None:
    """500 characters: 4 SMS segments (an error for SMS), one WhatsApp message (fine)."""
    text = "a" * 500
    issues = lint_sources({"m/sms.en.j2": text, "m/whatsapp.en.j2": text})
    assert [(i.file, i.severity) for i in issues] == [("m/sms.en.j2", "error")]
    assert "segments" in issues[0].message


def test_a_whatsapp_text_over_4096_characters_is_an_error() -> None:
    issues = lint_sources(
        {"m/whatsapp.en.j2": "{% for i in range(4097) %}x{% endfor %}", "m/sms.en.j2": "x"}
    )
    assert [(i.file, i.severity) for i in issues] == [("m/whatsapp.en.j2", "error")]
    assert "4097 characters" in issues[0].message and "4096" in issues[0].message


def test_an_empty_whatsapp_text_is_an_error() -> None:
    issues = lint_sources({"m/whatsapp.en.j2": "{% if false %}x{% endif %}"})
    assert [(i.file, i.severity, i.message) for i in issues] == [
        ("m/whatsapp.en.j2", "error", "the sample WhatsApp message is empty")
    ]
