"""The operator's free text in each customer's language: CLI, API and the engine.

A French customer reads the French message, workaround and cause when the operator wrote
them, and the default locale's when not (never an older French text of an older message);
templates can tell which they got.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from notifier.cli.main import main
from notifier.engine.localized import localized
from notifier.services import incidents
from tests.harness import Harness, harness

FR = ("zoe@example.fr", "elodie@example.fr")  # locale fr and fr_FR
EN = ("ann@example.com", "ben@example.com")


def _text(h: Harness, address: str, subject_starts: str) -> str:
    for m in reversed(h.sink.messages):
        if address in m.rcpt_tos and str(m.message["Subject"]).startswith(subject_starts):
            body = m.message.get_body(("plain",)) if isinstance(m.message, EmailMessage) else None
            return " ".join((body.get_content() if body else str(m.message)).split())
    raise AssertionError(f"no message {subject_starts!r} to {address}")


async def test_each_customer_reads_the_operators_text_in_their_locale(
    db_url: str, tmp_path: Path
) -> None:
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        incident = await incidents.declare(
            h.app.engine,
            title="Signal outage",
            severity="major",
            affects=["satellite-radio"],
            message="Your radio is not broken.",
            workaround="Use the app.",
            translations={
                "message": {"fr": "Votre radio n'est pas en panne."},
                "workaround": {"fr": "Utilisez l'appli."},
            },
            now=h.clock.now(),
        )
        await h.drain()
        for address in FR:
            said = _text(h, address, "Signal outage")
            assert "Votre radio n'est pas en panne." in said and "Utilisez l'appli." in said
            assert "not broken" not in said and "Use the app" not in said
        for address in EN:
            said = _text(h, address, "Signal outage")
            assert "Your radio is not broken." in said and "Use the app." in said

        # A new message in English only: the French read it in English, not the old French.
        await incidents.update(
            h.app.engine,
            incident.id,
            message="Engineers are on site.",
            status="identified",
            now=h.clock.now(),
        )
        await incidents.resolve(
            h.app.engine,
            incident.id,
            cause="A power cut.",
            translations={"cause": {"fr": "Une coupure de courant."}},
            now=h.clock.now(),
        )
        await h.drain()
        stored = await incidents.show(h.app.engine, incident.id)
        assert stored.incident.translations == {
            "workaround": {"fr": "Utilisez l'appli."},
            "cause": {"fr": "Une coupure de courant."},
        }
        for address in FR:
            assert "Une coupure de courant." in _text(h, address, "Réparé")


def test_templates_can_tell_which_locale_they_got() -> None:
    context = {
        "incident": {
            "message": "Down",
            "workaround": "Use the app",
            "cause": None,
            "translations": {"message": {"fr": "En panne"}},
        },
        "update": None,
    }
    fr_ca = localized(context, "fr_CA", "en")["incident"]
    assert fr_ca["message"] == "En panne" and fr_ca["workaround"] == "Use the app"
    assert fr_ca["text_locale"] == {"message": "fr", "workaround": "en", "cause": None}
    de = localized(context, "de", "en")["incident"]
    assert de["message"] == "Down" and de["text_locale"]["message"] == "en"


@pytest.mark.parametrize(
    ("translations", "says"),
    [
        ({"message": {"fr": "x" * 4001}}, "message.fr: at most 4000 characters"),
        ({"message": {"f r": "x"}}, "'f r' is not a locale"),
        ({"title": {"fr": "x"}}, "title: no text in other locales here"),
        ({"message": {f"l{n:02d}"[:3]: "x" for n in range(21)}}, "at most 20 locales"),
        ({"workaround": {"fr": "Utilisez l'appli."}}, "workaround: give it in the default"),
    ],
)
def test_bad_translations_are_refused_with_the_field(
    translations: dict[str, dict[str, str]], says: str
) -> None:
    from datetime import UTC, datetime

    with pytest.raises(incidents.InputError) as info:
        incidents.new_incident(
            title="T",
            severity="major",
            affects=["x"],
            message="Down",
            translations=translations,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    assert says in str(info.value)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_the_cli_takes_message_dash_locale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "c.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "x.db"}"\n'
        f'[paths]\nrules = "{root / "rules"}"\ntemplates = "{root / "templates"}"\n'
    )
    monkeypatch.setenv("NOTIFIER_CONFIG", str(config))
    code, out, _ = _cli(
        [
            "incident", "declare", "--title", "T", "--severity", "major", "--affects", "x",
            "--message", "Down", "--message-fr", "En panne", "--workaround", "App",
            "--workaround-pt_BR=Aplicativo", "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["translations"] == {
        "message": {"fr": "En panne"},
        "workaround": {"pt_BR": "Aplicativo"},
    }
    code, _, err = _cli(
        ["incident", "resolve", "1", "--cause", "C", "--cause-fr", "Cause", "--cuse-de", "x"],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --cuse-de: no such option")
    code, _, err = _cli(["incident", "update", "1", "--message", "M", "--message-fr"], capsys)
    assert code == 2 and err == "error: --message-fr: give the text\n"


def test_the_french_update_says_when_the_message_is_not_in_french() -> None:
    from notifier.domain.messages import ChannelName
    from notifier.templating import TemplateCatalog, sample_context

    catalog = TemplateCatalog.from_directory(Path(__file__).resolve().parents[2] / "templates")
    ctx = sample_context("fr", message="incident_updated")
    translated = catalog.render("incident_updated", ChannelName.EMAIL, "fr", ctx)
    assert "langue d'origine" not in translated.text
    ctx["update"] = {**ctx["update"], "message": "Engineers are on site."}
    ctx["update"]["text_locale"] = {**ctx["update"]["text_locale"], "message": "en"}
    untranslated = catalog.render("incident_updated", ChannelName.EMAIL, "fr", ctx)
    assert "Engineers are on site. (message de notre équipe, dans sa langue d'origine)" in (
        untranslated.text
    )
