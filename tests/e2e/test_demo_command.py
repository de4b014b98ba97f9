"""`notifier demo`, the README's first command, run as a newcomer runs it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from notifier.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return out


def test_the_demo_tells_the_story_and_its_hint_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the checkout's rules/ and templates/, as scripts/demo has them
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    out = _run(capsys, "demo", "--workdir", str(tmp_path / "demo"))
    steps = [
        "incident 1 declared: everyone is told at once",
        "next morning: the ETA slips, and we say so first",
        "resolved: the cause, and a practical tip",
        "afterwards: the follow-ups stopped by themselves",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), out
    assert "SMTP server received 44 emails; Twilio stand-in received 18 SMS." in out

    # The last line suggests a command: it must work, and show what the demo sent.
    hint = out.strip().splitlines()[-1]
    assert hint.startswith("Read any customer's timeline: notifier "), hint
    command = shlex.split(hint.split(": ", 1)[1])[1:]
    timeline = json.loads(_run(capsys, *command, "--json"))
    channels = [e["channel"] for e in timeline["entries"] if e["status"] == "sent"]
    assert (channels.count("email"), channels.count("sms")) == (7, 3), timeline
