"""LiveCatalog: the catalog in force survives a broken edit and picks up the fix."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notifier.domain.messages import ChannelName
from notifier.errors import TemplateError
from notifier.templating import LiveCatalog, sample_context


def write(root: Path, name: str, source: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


def sms(live: LiveCatalog, message: str = "outage") -> str:
    return live.current.render(message, ChannelName.SMS, "en", sample_context("en")).text


def test_reload_keeps_the_last_good_catalog_and_picks_up_a_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "outage/sms.en.j2", "v1 {{ company.name }}")
    live = LiveCatalog(tmp_path)
    assert sms(live) == "v1 XM Radio"

    write(tmp_path, "outage/sms.en.j2", "v2 {{ company.name }")
    write(tmp_path, "other/sms.en.j2", "new message")
    write(tmp_path, "other/email.en.j2", "{% block subject %}no text or html{% endblock %}")
    with caplog.at_level(logging.WARNING):
        errors = live.reload()
    assert len(errors) == 2
    assert errors[0].startswith("other/email.en.j2: ")
    assert errors[1].startswith("outage/sms.en.j2: line 1: ")
    assert "templates not reloaded" in caplog.text
    # Nothing of the broken reload is in force, not even the good new file.
    assert sms(live) == "v1 XM Radio"
    assert not live.current.has("other", ChannelName.SMS)

    write(tmp_path, "outage/sms.en.j2", "v3 {{ company.name }}")
    (tmp_path / "other" / "email.en.j2").unlink()
    assert live.reload() == []
    assert sms(live) == "v3 XM Radio"
    assert sms(live, "other") == "new message"


def test_reload_of_a_vanished_directory_keeps_the_catalog(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    write(root, "outage/sms.en.j2", "still here")
    live = LiveCatalog(root)
    (root / "outage" / "sms.en.j2").unlink()
    (root / "outage").rmdir()
    root.rmdir()
    errors = live.reload()
    assert len(errors) == 1 and "not a directory" in errors[0]
    assert sms(live) == "still here"


def test_first_load_failure_raises(tmp_path: Path) -> None:
    write(tmp_path, "outage/sms.en.j2", "{% for %}")
    with pytest.raises(TemplateError, match=r"outage/sms\.en\.j2: line 1: "):
        LiveCatalog(tmp_path)


def test_a_render_error_is_not_a_load_error(tmp_path: Path) -> None:
    # A misspelt attribute compiles: lint finds it (with sample data), render reports it.
    write(tmp_path, "outage/sms.en.j2", "{{ incident.titel }}")
    live = LiveCatalog(tmp_path)
    with pytest.raises(TemplateError, match="titel"):
        sms(live)
