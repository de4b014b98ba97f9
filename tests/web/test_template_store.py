"""Templates in the database without a browser: versions, lint refusal, restore, diffs,
every process picking up a new live version, and `notifier templates import/export/lint`."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.domain.messages import ChannelName
from notifier.runtime.app import App
from notifier.services import template_versions as versions
from notifier.services.template_catalog import DbCatalog
from tests.cli.test_cli_errors import Cli
from tests.harness import ROOT, START, harness
from tests.waiting import wait_for

SMS = "incident_declared/sms.en.j2"


async def test_versions_live_only_when_clean_and_other_processes_follow(
    tmp_path: Path, db_url: str
) -> None:
    async with harness(db_url) as h:
        # A second process on the same database: its own App and catalog.
        other = await App.open(h.app.settings, migrate=False)
        assert isinstance(other.templates, DbCatalog)
        other.templates._interval = 0.05
        try:
            assert not other.templates.from_database  # nothing saved yet: the folder
            original = other.templates.current.source("incident_declared", ChannelName.SMS, "en")

            saved = await versions.save(
                h.app, SMS, "New wording {{ incident.title }}\n", author="ann", now=START
            )
            assert saved.live and saved.version is not None and saved.version.version == 2
            # Seeded: every shipped file is version 1, live.
            assert len(await versions.live_set(h.app)) == len(
                list((ROOT / "templates").rglob("*.j2"))
            )

            # The other process notices on its own (each read of `current` may check).
            await wait_for(
                lambda: other.templates.current.source(
                    "incident_declared", ChannelName.SMS, "en"
                ).startswith("New"),
                what="the other process to take the new template",
            )
            assert other.templates.from_database

            broken = await versions.save(h.app, SMS, "Hi\n{% if %}\n", author="ann", now=START)
            assert not broken.live and broken.version is not None
            assert [(i.file, i.line) for i in broken.errors] == [(SMS, 2)]
            assert (await versions.live_set(h.app))[SMS].startswith("New wording")

            restored = await versions.restore(h.app, SMS, 1, author="bob", now=START)
            assert restored.live and restored.version is not None
            assert restored.version.version == 4
            assert (await versions.live_set(h.app))[SMS] == original
            history = await versions.history(h.app.engine, SMS)
            assert [(v.version, v.is_live) for v in history] == [
                (4, True),
                (3, False),
                (2, False),
                (1, False),
            ]
            diffs = versions.diffs(history)
            assert "+New wording" in diffs[2] and "-Hi" in diffs[4]
            unchanged = await versions.save(h.app, SMS, original, author="x", now=START)
            assert unchanged.version is None  # the live source already: no new version
        finally:
            await other.close()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def test_cli_import_export_and_lint_db(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli.run("templates", "lint", "--db")
    assert code == 0, out + err  # no database set yet: the folder's, which is clean
    edited = tmp_path / "edited"
    code, out, _ = cli.run("templates", "export", str(edited))
    assert code == 0 and (edited / SMS).exists()
    shipped = len(list(edited.rglob("*.j2")))
    code, out, _ = cli.run("templates", "import", str(edited))  # the first import: all
    assert code == 0 and f"{shipped} new versions" in out, out
    (edited / SMS).write_text("Imported {{ incident.title }}\n", encoding="utf-8")
    code, out, _ = cli.run("templates", "import", str(edited))
    assert code == 0 and f"1 new versions, {shipped - 1} unchanged" in out, out
    assert cli.count("template_versions") == shipped + 1
    again = tmp_path / "again"
    assert cli.run("templates", "export", str(again))[0] == 0
    assert (again / SMS).read_text(encoding="utf-8") == "Imported {{ incident.title }}\n"

    (edited / SMS).write_text("Broken {% if %}\n", encoding="utf-8")
    code, out, _ = cli.run("templates", "import", str(edited))
    assert code == 2 and "nothing imported" in out
    assert cli.count("template_versions") == shipped + 1
    data = cli.json("templates", "lint", "--db")
    assert data["errors"] == 0
