"""App.message_headers per message, and the CLI commands of the API issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifier.cli.main import main
from notifier.domain.messages import ChannelName
from notifier.outbox.claims import ClaimedMessage
from notifier.runtime.app import App
from notifier.services.unsubscribe import read_token
from tests.api.conftest import BASE, SECRET, ApiEnv

ROOT = Path(__file__).resolve().parents[2]


def _claimed(
    channel: ChannelName = ChannelName.EMAIL,
    *,
    customer: str = "c-en",
    subject_type: str = "incident",
    severity: str | None = "major",
) -> ClaimedMessage:
    return ClaimedMessage(
        id=1,
        key="e1:r:c:ch",
        channel=channel,
        recipient="x",
        subject=None,
        text="t",
        html=None,
        attempts=1,
        customer_id=customer,
        subject_type=subject_type,
        severity=severity,
    )


def test_headers_for_each_kind_of_message(sqlite_env: ApiEnv) -> None:
    app = sqlite_env.app
    email = app.message_headers(_claimed())
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = email["List-Unsubscribe"]
    assert link.startswith(f"<{BASE}/u/") and link.endswith(">")
    claims = read_token(SECRET, link[len(f"<{BASE}/u/") : -1])
    assert (claims.customer_id, claims.category, claims.channel) == ("c-en", "incidents", "email")
    assert app.message_headers(_claimed(ChannelName.SMS)) == {
        "status_callback": f"{BASE}/webhooks/twilio/status"
    }
    assert app.message_headers(_claimed(severity="critical")) == {}
    assert app.message_headers(_claimed(customer="operations")) == {}
    assert app.message_headers(_claimed(subject_type="customer", severity=None)) == {}


def test_without_public_url_or_secret_nothing_is_added(sqlite_env: ApiEnv) -> None:
    api = sqlite_env.app.settings.api
    bare = App(
        sqlite_env.app.settings.model_copy(
            update={"api": api.model_copy(update={"public_base_url": None})}
        ),
        sqlite_env.app.engine,
        sqlite_env.app.clock,
        sqlite_env.app.rules,
        sqlite_env.app.templates,
    )
    assert bare.message_headers(_claimed()) == {}
    assert bare.message_headers(_claimed(ChannelName.SMS)) == {}
    no_secret = App(
        sqlite_env.app.settings.model_copy(
            update={"api": api.model_copy(update={"unsubscribe_secret": None})}
        ),
        sqlite_env.app.engine,
        sqlite_env.app.clock,
        sqlite_env.app.rules,
        sqlite_env.app.templates,
    )
    assert no_secret.message_headers(_claimed()) == {}


class Cli:
    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        customers = tmp_path / "customers.csv"
        customers.write_text(
            "id,name,email,phone,locale,timezone,services,opt_out\n"
            "a,Ann,ann@example.com,+12015550123,en,UTC,radio,\n"
            "b,Ben,ben@example.com,+12015550124,en,UTC,radio,sms\n",
            encoding="utf-8",
        )
        self.customers = customers
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
            f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
        )
        self._capsys = capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(self.config), *args])
        out, err = self._capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), out, err


def test_cli_api_keys_dry_run_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path, capsys)
    assert cli.run("customers", "import", str(cli.customers))[0] == 0

    code, out, _ = cli.run("apikeys", "create", "--role", "ops", "--name", "ops desk", "--json")
    created = json.loads(out)
    assert code == 0 and created["key"].startswith("ntf_") and created["role"] == "ops"
    code, out, _ = cli.run("apikeys", "list", "--json")
    assert created["key"] not in out and json.loads(out)["keys"][0]["prefix"] == created["prefix"]
    code, out, _ = cli.run("apikeys", "revoke", str(created["id"]))
    assert code == 0 and "revoked" in out

    declare = (
        "incident",
        "declare",
        "--title",
        "Down",
        "--severity",
        "major",
        "--affects",
        "radio",
    )
    code, out, _ = cli.run(*declare, "--dry-run", "--json")
    forecast = json.loads(out)
    assert code == 0 and forecast["dry_run"] is True and forecast["affected"] == 2
    assert forecast["channels"]["sms"]["suppressed_by_reason"] == {"opted out of sms": 1}
    code, out, _ = cli.run(*declare, "--dry-run")
    assert "sms: 1 to send, 1 suppressed (1 opted out of sms)" in out

    assert cli.run(*declare)[0] == 0  # id 1: the dry runs declared nothing
    code, out, _ = cli.run("incident", "report", "1", "--json")
    report = json.loads(out)
    assert code == 0 and report["incident"]["title"] == "Down"
    assert report["affected"] == 0  # planned by a worker, none has run
    code, out, _ = cli.run("incident", "report", "1")
    assert code == 0 and "affected customers: 0" in out and "told before they called: 0" in out


def test_serve_is_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    assert "--no-worker" in capsys.readouterr().out
