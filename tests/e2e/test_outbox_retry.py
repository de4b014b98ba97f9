"""`notifier outbox retry` (service, CLI, API): failed messages go again, once, by filter;
nothing sent is ever sent again."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.cli.main import main
from notifier.services import incidents
from notifier.services.outbox_retry import make_filter, retry
from notifier.store.tables import outbox
from tests.e2e.test_failover import RULES, _customers
from tests.harness import ROOT, Harness, harness
from tests.time.rules_fixtures import rules_dir


async def _rows(h: Harness) -> list[tuple[str, str, str, str, str | None]]:
    async with h.app.engine.connect() as conn:
        return [
            (r.idempotency_key, r.channel, r.status, r.subject_id, r.error_code)
            for r in (
                await conn.execute(
                    select(
                        outbox.c.idempotency_key,
                        outbox.c.channel,
                        outbox.c.status,
                        outbox.c.subject_id,
                        outbox.c.error_code,
                    ).order_by(outbox.c.id)
                )
            ).all()
        ]


async def _declare(h: Harness, title: str) -> None:
    await incidents.declare(
        h.app.engine, title=title, severity="major", affects=["radio"], now=h.clock.now()
    )


async def test_retry_sends_failed_ones_once_by_filter_and_never_a_sent_one(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'retry.db'}"
    async with harness(url, rules=rules_dir(tmp_path, RULES), max_attempts=1) as h:
        await h.load_customers(tmp_path, _customers(6))
        # Incident 1: three emails refused for good (550), three SMS failing (500, a
        # message-level error, one attempt allowed), the rest sent.
        for i in range(3):
            h.sink.reject_recipient(f"c{i}@example.com", "550 5.7.1 relay policy")
        h.twilio.script([500, 500, 500])
        await _declare(h, "First")
        await h.drain()
        # Incident 2: the relay's policy lifted, everything goes.
        h.sink.reset()
        await _declare(h, "Second")
        await h.drain()
        rows = await _rows(h)
        assert Counter((r[3], r[2]) for r in rows) == Counter(
            {("1", "failed"): 6, ("1", "sent"): 6, ("2", "sent"): 12}
        )
        sent_before = len(h.sink.messages), len(h.twilio.messages)
        keys_before = [r[0] for r in rows]

        # A filter that matches nothing changes nothing.
        nothing = make_filter(incident_id=2, channel=None, reason=None)
        assert (await retry(h.app.engine, nothing, now=h.clock.now())).retried == 0
        # Dry run: counts, changes nothing.
        email_550 = make_filter(incident_id=1, channel="email", reason="relay POLICY")
        counted = await retry(h.app.engine, email_550, now=h.clock.now(), dry_run=True)
        assert (counted.matched, counted.retried) == (3, 0)

        # The relay accepts them now; only the email failures are retried.
        h.sink.reset()
        result = await retry(h.app.engine, email_550, now=h.clock.now())
        assert (result.matched, result.retried) == (3, 3)
        await h.drain()
        assert sorted(r for m in h.sink.messages for r in m.rcpt_tos) == [
            f"c{i}@example.com" for i in range(3)
        ]
        rows = await _rows(h)
        assert [r[0] for r in rows] == keys_before  # the same rows, the same keys
        assert Counter((r[1], r[2]) for r in rows if r[3] == "1") == Counter(
            {("email", "sent"): 6, ("sms", "failed"): 3, ("sms", "sent"): 3}
        )
        # Retrying the same filter again finds nothing: they were sent.
        again = await retry(h.app.engine, email_550, now=h.clock.now())
        assert again.retried == 0
        await h.drain()
        assert len(h.sink.messages) == 3
        assert len(h.twilio.messages) == sent_before[1]


async def test_a_customer_who_opted_out_at_the_provider_is_not_retried(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'optout.db'}"
    async with harness(url, rules=rules_dir(tmp_path, RULES)) as h:
        await h.load_customers(tmp_path, _customers(2))
        h.twilio.fail_number("+12015550000", code=21610)
        await _declare(h, "First")
        await h.drain()
        selection = make_filter(incident_id=None, channel="sms", reason=None)
        result = await retry(h.app.engine, selection, now=h.clock.now())
        assert (result.matched, result.retried) == (0, 0)


class _Cli:
    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        rules, templates = tmp_path / "rules", tmp_path / "templates"
        shutil.copytree(ROOT / "rules", rules)
        shutil.copytree(ROOT / "templates", templates)
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
            f'[paths]\nrules = "{rules}"\ntemplates = "{templates}"\n'
        )
        self.capsys = capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--channel", "fax"), "channel: 'fax' is not a channel"),
        (("--incident", "0"), "incident: expected a positive id"),
        (("--reason", " "), "reason: empty"),
        (("--reason", "x" * 201), "reason: longer than 200"),
    ],
)
def test_cli_bad_filters_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], words: str
) -> None:
    code, _out, err = _Cli(tmp_path, capsys).run("outbox", "retry", *args)
    assert code == 2
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_cli_retry_prints_counts_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = _Cli(tmp_path, capsys)
    assert cli.run("db", "upgrade")[0] == 0
    code, out, err = cli.run("outbox", "retry", "--channel", "sms", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out) == {"matched": 0, "retried": 0}
