"""The scheduler under many pending follow-ups.

`pending` follow-up schedules exist, most due days from now (for other incidents); `due`
of them, for one open incident with one affected customer, fall due one after the other
over `window` seconds while a `notifier worker` runs. Measured:

- lateness: when each due follow-up was fired (its fan-out row written) and when its email
  was accepted (sent_at), minus its due_at;
- the cost of a tick: the claim of due schedules (and the next-due query the worker sleeps
  on) with 1,000, 10,000 and `pending` rows pending and none due, then with 10 and 50 due.
  Each claim runs in a transaction that is rolled back, so nothing changes.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.peers import Peer
from bench.setup import SERVICE, database, declare, seed_customers, workdir, workers, write_config
from notifier.store import schedules as schedule_store
from notifier.store.db import create_engine
from notifier.store.schedules_table import schedules
from notifier.store.tables import events, incidents, outbox

RULE = "bench-followup"
FOLLOWUP_RULE = f"""
[[rule]]
name = "{RULE}"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_still_working"
every = "1h"
"""
_LEASE = timedelta(seconds=120)


async def _insert(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            await conn.execute(insert(schedules), rows[start : start + 10_000])


def _row(incident: int, event: int, due_at: datetime, now: datetime) -> dict[str, Any]:
    return {
        "kind": "followup",
        "name": RULE,
        "subject_type": "incident",
        "subject_id": str(incident),
        "event_id": event,
        "due_at": due_at,
        "every_seconds": 3600,
        "max_times": None,
        "fired": 0,
        "status": "pending",
        "payload": {},
        "created_at": now,
        "updated_at": now,
    }


async def _tick_cost(engine: AsyncEngine, at: datetime, repeat: int = 15) -> tuple[float, float]:
    """Median ms of the due claim (rolled back) and of the next-due query, at time `at`."""
    claims, nexts = [], []
    for _ in range(repeat):
        async with engine.connect() as conn:
            transaction = await conn.begin()
            start = time.perf_counter()
            await schedule_store.claim_due(conn, worker="bench", now=at, lease=_LEASE, limit=50)
            claims.append((time.perf_counter() - start) * 1000)
            await transaction.rollback()
        async with engine.connect() as conn:
            start = time.perf_counter()
            await schedule_store.next_due_at(conn)
            nexts.append((time.perf_counter() - start) * 1000)
    return statistics.median(claims), statistics.median(nexts)


async def run(*, db: str, pending: int, due: int, window: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio, workdir() as tmp:
        async with database(db, Path(tmp)) as url:
            await seed_customers(url, 1)
            config = write_config(
                Path(tmp),
                url,
                smtp,
                twilio,
                channels=[],
                email_width=4,
                sms_width=4,
                extra_rules=FOLLOWUP_RULE,
            )
            declare(config)  # its planning (by the worker, later) arms one more follow-up
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    incident = (await conn.execute(select(incidents.c.id))).scalar_one()
                    event = (await conn.execute(select(events.c.id))).scalar_one()
                now = datetime.now(UTC)
                far = pending - due
                # Pending follow-ups of many other incidents (subjects of their own, as in
                # life: a subject's own follow-ups are few), due from tomorrow on.
                later = [
                    _row(1_000_000 + i, event, now + timedelta(days=1, seconds=i), now)
                    for i in range(far)
                ]
                print(f"tick cost, none due (claim of up to 50 due / next-due query), {db}:")
                costs: dict[str, Any] = {}
                done = 0
                for size in sorted({min(1_000, far), min(10_000, far), far}):
                    await _insert(engine, later[done:size])
                    done = size
                    claim, nxt = await _tick_cost(engine, now)
                    costs[f"{size} pending, 0 due"] = (claim, nxt)
                    print(f"  {size:>7} pending:  claim {claim:6.2f} ms   next due {nxt:6.2f} ms")
                # The due ones: spread over the window, starting once the worker is up.
                start = now + timedelta(seconds=(datetime.now(UTC) - now).total_seconds() + 8)
                due_rows = [
                    _row(incident, event, start + timedelta(seconds=window * i / max(due, 1)), now)
                    for i in range(due)
                ]
                await _insert(engine, due_rows)
                for k in (10, 50):
                    at = due_rows[min(k, due) - 1]["due_at"] if due else now
                    claim, nxt = await _tick_cost(engine, at)
                    costs[f"{pending} pending, {min(k, due)} due"] = (claim, nxt)
                    print(
                        f"  {pending:>7} pending, {min(k, due):>3} due: claim {claim:6.2f} ms "
                        f"  next due {nxt:6.2f} ms"
                    )
                figures["tick_cost_ms"] = costs

                smtp.reset()
                with workers(config, 1) as running:
                    cpu_before = running[0].cpu_seconds()
                    deadline = time.monotonic() + window + 120
                    fired = 0
                    while time.monotonic() < deadline:
                        async with engine.connect() as conn:
                            fired = len(
                                (
                                    await conn.execute(
                                        select(schedules.c.id).where(
                                            schedules.c.status == "done",
                                            schedules.c.due_at >= start,
                                            schedules.c.due_at < start + timedelta(days=1),
                                        )
                                    )
                                ).all()
                            )
                        if fired >= due and smtp.stats().accepted >= due:
                            break
                        await asyncio.sleep(0.5)
                    rss = running[0].peak_rss_mb()
                    cpu = running[0].cpu_seconds() - cpu_before
                figures.update(await _lateness(engine, start, due, smtp, rss, cpu))
            finally:
                await engine.dispose()
    return figures


async def _lateness(
    engine: AsyncEngine, start: datetime, due: int, smtp: Peer, rss: float, cpu: float
) -> dict[str, Any]:
    async with engine.connect() as conn:
        due_at = {
            row.id: row.due_at
            for row in await conn.execute(
                select(schedules.c.id, schedules.c.due_at).where(
                    schedules.c.due_at >= start, schedules.c.due_at < start + timedelta(days=1)
                )
            )
        }
        rows = (
            await conn.execute(
                select(outbox.c.idempotency_key, outbox.c.created_at, outbox.c.sent_at).where(
                    outbox.c.rule == RULE
                )
            )
        ).all()
    # Silence the follow-ups armed for the next hour: the run is over.
    async with engine.begin() as conn:
        await conn.execute(
            update(schedules).where(schedules.c.status == "pending").values(status="cancelled")
        )
    fired, sent = [], []
    for key, created, sent_at in rows:
        schedule = int(key.split(":", 1)[0].removeprefix("s"))
        if schedule in due_at:
            fired.append((created - due_at[schedule]).total_seconds())
            if sent_at is not None:
                sent.append((sent_at - due_at[schedule]).total_seconds())

    def summary(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        ordered = sorted(values)
        return {
            "count": len(ordered),
            "p50": ordered[len(ordered) // 2],
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1],
        }

    result: dict[str, Any] = {
        "fired_late_s": summary(fired),
        "sent_late_s": summary(sent),
        "expected": due,
        "peer_accepted": smtp.stats().accepted,
        "worker_rss_mb": rss,
        "worker_cpu_s": cpu,
    }
    print(f"lateness of {due} follow-ups falling due while the worker runs:")
    for name, s in (("fired_late_s", summary(fired)), ("sent_late_s", summary(sent))):
        if s:
            print(
                f"  {name[:-7]:5}: {s['count']} of {due}, p50 {s['p50']:.3f} s, "
                f"p95 {s['p95']:.3f} s, max {s['max']:.3f} s late"
            )
    print(
        f"  peer accepted {result['peer_accepted']}; worker peak RSS {rss:.0f} MB; "
        f"worker CPU {cpu:.1f} s ({1000 * cpu / max(due, 1):.1f} ms per follow-up, "
        "firing and sending)"
    )
    return result


__all__ = ["SERVICE", "run"]
