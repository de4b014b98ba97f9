"""`notifier incident watch ID`: a bar per channel, against when the rest will have gone."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.domain.messages import DeliveryStatus
from notifier.outbox.enqueue import enqueue
from notifier.store.db import create_engine
from tests.cli.test_cli_errors import Cli, _one_line_error
from tests.scale.test_claims import row


@pytest.fixture
def shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def _plan(cli: Cli, incident_id: str, *, pending: int, sent: int) -> None:
    """Messages about the incident in the outbox, as the fan-out would have left them."""

    async def go() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{cli.db}")
        now = datetime.now(UTC)
        rows = [
            replace(
                row(i, "email" if i % 2 else "sms", due=now),
                key=f"k{i}",
                subject_id=incident_id,
                status=DeliveryStatus.SENT if i < sent else DeliveryStatus.PENDING,
            )
            for i in range(sent + pending)
        ]
        try:
            async with engine.begin() as conn:
                await enqueue(conn, rows)
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_watch_shows_each_channel_against_its_capacity(shell: Cli) -> None:
    cli = shell
    cli.config.write_text(cli.config.read_text() + "[email.capacity]\nrate = 2\n")
    declared = cli.json(
        "incident", "declare", "--title", "Radio down", "--severity", "minor",
        "--affects", "radio",
    )
    incident_id = str(declared["id"])
    _plan(cli, incident_id, pending=6, sent=4)
    code, out, err = cli.run("incident", "watch", incident_id, "--once")
    assert code == 0, err
    email = next(line for line in out.splitlines() if line.startswith("email"))
    sms = next(line for line in out.splitlines() if line.startswith("sms"))
    assert "2/5" in email and re.search(r"3 waiting, all by \d\d:\d\d:\d\d UTC at 2/s", email)
    assert "2/5" in sms and "3 waiting, not paced" in sms


def test_watch_ends_by_itself_when_nothing_waits(shell: Cli) -> None:
    cli = shell
    declared = cli.json(
        "incident", "declare", "--title", "Radio down", "--severity", "minor",
        "--affects", "radio",
    )
    _plan(cli, str(declared["id"]), pending=0, sent=4)
    code, out, err = cli.run("incident", "watch", str(declared["id"]))
    assert code == 0, err
    assert out.count("all handed over") == 2


def test_watch_an_unknown_incident_is_one_line(shell: Cli) -> None:
    cli = shell
    code, _, err = cli.run("incident", "watch", "999")
    _one_line_error(code, err, "999")
