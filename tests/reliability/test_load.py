"""Load: under a sustained stream of order events over HTTP, nothing is lost and nothing is
recorded, planned or sent twice. How fast is `python -m bench load`'s business (figures in
BENCHMARKS.md); this test never judges a duration, a rate or a lag.

The run is bench/load.py's: `notifier serve --no-worker` and `notifier worker` in processes
of their own, the SMTP sink and the Twilio stand-in in processes of their own, and the load
generator in another, an open loop of orders each following a legal path. Here the
generator sends every event however late (a slow machine falls behind, it does not drop
work) and waits generously for each answer; the server admits few requests at once
(`api.max_in_flight`), so a burst is turned away with the documented 503, which the client
retries.

Checked, once the outbox is drained (polled, with a deadline that only turns a hang into a
failure):
- every event got an answer, every answer a 2xx: no 5xx but the admission 503, retried;
- every answered event recorded exactly once (a retried request too), none "ignored" as a
  repeat, every recorded event planned;
- every message the recorded events call for in the outbox once, `sent`, and at its peer
  exactly once;
- the server and the workers exit cleanly, no traceback in the server's log.

Sizes (environment variables): RELIABILITY_LOAD_RATE (events a second offered, default 40),
RELIABILITY_LOAD_SECONDS (default 15), RELIABILITY_LOAD_WORKERS (default 1),
RELIABILITY_LOAD_CUSTOMERS (default 1000).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import load
from tests.databases import postgres_database
from tests.reliability.procs import env_int, start_peers

pytestmark = [pytest.mark.slow]

RATE = env_int("RELIABILITY_LOAD_RATE", 40)
SECONDS = env_int("RELIABILITY_LOAD_SECONDS", 15)
WORKERS = env_int("RELIABILITY_LOAD_WORKERS", 1)
CUSTOMERS = env_int("RELIABILITY_LOAD_CUSTOMERS", 1000)
# Few requests at once: a burst of the stream meets the admission's 503 and is retried.
MAX_IN_FLIGHT = 4
# Seconds. Only turn a hang into a failure: nothing here is judged on time.
ANSWER_WITHIN = 300.0
DRAIN_WITHIN = 600.0


async def _run(store: str, url: str, workdir: Path) -> load.LoadRun:
    options = load.LoadOptions(
        store=store,
        rate=RATE,
        seconds=SECONDS,
        customers=CUSTOMERS,
        workers=WORKERS,
        miss_after=math.inf,
        request_timeout=ANSWER_WITHIN,
        max_in_flight=MAX_IN_FLIGHT,
        drain_within=DRAIN_WITHIN,
    )
    smtp, twilio = start_peers()
    try:
        return await load.run(url, workdir, smtp, twilio, options)
    finally:
        smtp.stop()
        twilio.stop()


def _check(run: load.LoadRun) -> None:
    report = run.report()
    print()
    print(report)
    # No request lost: each planned event sent, each answered, each with a 2xx.
    assert run.planned > 0 and len(run.results) == run.planned, report
    assert run.missed == [], report
    assert run.errors == [], (report, run.errors[:5])
    # Each answered event recorded exactly once, retried ones included.
    assert run.ignored == [], (report, run.ignored[:5])
    assert sum(run.recorded.values()) == len(run.answered), report
    assert run.repeated == 0, report
    # Waited for, not timed: everything planned and sent.
    assert run.drained_after is not None, (
        f"timed out after {DRAIN_WITHIN:g} s waiting for every event planned and every "
        f"message sent and at the peers\n{report}\n{run.timeline()}"
    )
    assert run.unplanned == 0, report
    # Each message planned once, sent once, at its peer once.
    assert run.outbox_rows == {c: n for c, n in run.expected.items() if n}, report
    assert run.statuses == {"sent": sum(run.expected.values())}, report
    assert run.lost() == {"email": 0, "sms": 0}, report
    assert {c: s.duplicates for c, s in run.peers.items()} == {"email": 0, "sms": 0}, report
    assert run.server is not None
    server_log = run.server.log.read_text(errors="replace")[-3000:]
    assert (run.server.code, run.server.errors) == (0, 0), (report, server_log)
    assert run.codes == [0] * WORKERS, (report, run.codes)


async def test_order_events_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'load.db'}"
    _check(await _run("sqlite", url, tmp_path))


@pytest.mark.postgres
async def test_order_events_postgresql(tmp_path: Path) -> None:
    async with postgres_database() as url:
        run = await _run("postgresql", url, tmp_path)
    _check(run)
