"""`python -m bench failover`: the providers' worst day, against stand-ins in other processes.

Three runs, each with `notifier worker` processes and `notifier incident declare`:

- throttled: a relay limited to 14 emails/s and a Twilio account to 30 SMS/s (their
  answers beyond it: 454 and 429), with notifier's capacity set to the same rates
  (`[email.capacity] rate = 14`, `[sms.capacity] rate = 30`), N customers: how many
  failed (must be 0), the rate achieved against the limit, how many throttle answers per message;
- outage: every provider refusing (SMTP connections refused, Twilio 503) for a while, then
  back: failed (must be 0), time from the return to the last message, operations alerts;
- killed: the primary SMTP relay killed mid fan-out: time until the secondary carries
  mail, messages lost (must be 0), duplicates; then the primary back on its port and the
  share of a second incident's mail it carries.

Correctness of the same paths is asserted in tests/e2e/test_failover.py; here the figures
are only printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers import Peer
from bench.setup import database, declare, seed_customers, workers, write_config
from notifier.clock import SystemClock
from notifier.services.report import incident_report
from notifier.store.db import create_engine

BREAKER = """
[delivery]
breaker_failures = 3
breaker_cooldown = "5s"
backoff_base = 0.5
max_attempts = 3
"""

CAPACITY = """
[email.capacity]
rate = 14

[sms.capacity]
rate = 30
"""


@dataclass
class Counts:
    sent: int
    failed: int
    waiting: int
    by_provider: dict[str, int]


async def _counts(url: str, incident_id: int, channel: str) -> Counts:
    engine = create_engine(url)
    try:
        report = await incident_report(engine, incident_id, now=SystemClock().now())
    finally:
        await engine.dispose()
    stats = report["channels"][channel]
    return Counts(stats["sent"], stats["failed"], stats["waiting"], stats["sent_by_provider"])


async def _until(what: str, check: Any, limit: float) -> float:
    """Poll `check()` (a coroutine function) until true; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > limit:
            raise RuntimeError(f"gave up after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def _secondary(port: int, name: str = "relay-2") -> str:
    return f'\n[[email.providers]]\nname = "{name}"\nport = {port}\n'


def _config(
    folder: Path,
    url: str,
    smtp: Peer,
    twilio: Peer,
    channels: Sequence[str],
    extra: str,
) -> Path:
    config = write_config(folder, url, smtp, twilio, channels=channels, email_width=8, sms_width=16)
    config.write_text(config.read_text(encoding="utf-8") + BREAKER + extra, encoding="utf-8")
    return config


async def throttled(tmp: Path, db: str, customers: int) -> dict[str, Any]:
    folder = tmp / "throttled"
    folder.mkdir()
    with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio:
        async with database(db, folder) as url:
            await seed_customers(url, customers)
            # Paced at the providers' limits, as a user who read them would set it: the
            # stand-ins' 454 / 429 then answer only what slips past the pace.
            config = _config(folder, url, smtp, twilio, ["email", "sms"], CAPACITY)
            smtp.limit(14)
            twilio.limit(30)
            with workers(config, 1):
                declared = declare(config)
                await asyncio.gather(
                    asyncio.to_thread(smtp.wait_for, customers, stall=120),
                    asyncio.to_thread(twilio.wait_for, customers, stall=120),
                )
                email, sms = await _counts(url, 1, "email"), await _counts(url, 1, "sms")
            figures: dict[str, Any] = {}
            for name, peer, counts, limit in (
                ("email", smtp, email, 14),
                ("sms", twilio, sms, 30),
            ):
                stats = peer.stats(declared)
                rate = stats.accepted / stats.last if stats.last else 0.0
                refused = peer.throttled()
                figures[name] = {
                    "accepted": stats.accepted,
                    "failed": counts.failed,
                    "duplicates": stats.duplicates,
                    "rate": rate,
                    "limit": limit,
                    "throttle_answers": refused,
                }
                print(
                    f"  {name:5} {stats.accepted:>6} accepted, failed {counts.failed}, "
                    f"duplicates {stats.duplicates}; {rate:5.1f}/s against a limit of "
                    f"{limit}/s ({rate / limit:.2f}); throttle answers {refused} "
                    f"({refused / max(1, stats.accepted + refused) * 100:.1f} % of requests)",
                    flush=True,
                )
    return figures


async def outage(tmp: Path, db: str, customers: int, seconds: float) -> dict[str, Any]:
    folder = tmp / "outage"
    folder.mkdir()
    with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio:
        async with database(db, folder) as url:
            await seed_customers(url, customers)
            config = _config(folder, url, smtp, twilio, ["email", "sms"], "")
            smtp.switch(False)
            twilio.switch(False)
            with workers(config, 1):
                declare(config)
                await asyncio.sleep(seconds)  # the outage itself, not a synchronisation
                during = await _counts(url, 1, "email"), await _counts(url, 1, "sms")
                smtp.switch(True)
                twilio.switch(True)
                back = time.time()

                async def settled() -> bool:
                    counts = [await _counts(url, 1, c) for c in ("email", "sms")]
                    return all(c.sent + c.failed >= customers for c in counts)

                await _until("every message of the incident", settled, seconds + 300)
                email, sms = await _counts(url, 1, "email"), await _counts(url, 1, "sms")
                await asyncio.sleep(1.0)  # an operations alert still on its way shows now
            last = max(s.last or 0.0 for s in (smtp.stats(back), twilio.stats(back)))
            # The operations alerts are mail too: what the sink took beyond the customers.
            alerts = smtp.stats().accepted - email.sent
    print(
        f"  both providers refusing for {seconds:.0f} s: failed during {during[0].failed} "
        f"email, {during[1].failed} sms; after the return failed {email.failed} email, "
        f"{sms.failed} sms; sent {email.sent} + {sms.sent} of {2 * customers}; last message "
        f"{last:.1f} s after the return; operations alerts {alerts}",
        flush=True,
    )
    return {
        "outage_seconds": seconds,
        "failed": email.failed + sms.failed,
        "sent": email.sent + sms.sent,
        "last_after_return": last,
        "alerts": alerts,
    }


async def killed(tmp: Path, db: str, customers: int) -> dict[str, Any]:
    folder = tmp / "killed"
    folder.mkdir()
    primary = Peer.start("smtp")
    port = primary.port
    with Peer.start("smtp") as secondary, Peer.start("twilio") as twilio:
        try:
            async with database(db, folder) as url:
                await seed_customers(url, customers)
                extra = _secondary(secondary.port)
                config = _config(folder, url, primary, twilio, ["email"], extra)
                # Paced, as a production relay is: the fan-out lasts long enough to be cut.
                primary.limit(max(10.0, customers / 10))
                with workers(config, 1):
                    declare(config, "First")
                    await asyncio.to_thread(primary.wait_for, customers // 4, stall=60)
                    before_kill = primary.stats().accepted
                    primary.kill()
                    killed_at = time.time()
                    await asyncio.to_thread(secondary.wait_for, 1, stall=60)
                    takeover = secondary.stats(killed_at).first or 0.0

                    async def all_sent() -> bool:
                        counts = await _counts(url, 1, "email")
                        return counts.sent + counts.failed >= customers

                    await _until("every email of the first incident", all_sent, 300)
                    first = await _counts(url, 1, "email")
                    carried = sum(first.by_provider.values())
                    # Accepted by the sink before its death, by the secondary after: what
                    # the database says was sent and neither accepted is lost.
                    accepted_secondary = secondary.stats().accepted
                    primary = Peer.start("smtp", port=port)
                    await asyncio.sleep(6)  # past the breaker's cool-down (5 s)
                    secondary.reset()
                    declare(config, "Second")

                    async def second_sent() -> bool:
                        counts = await _counts(url, 2, "email")
                        return counts.sent + counts.failed >= customers

                    await _until("every email of the second incident", second_sent, 300)
                    second = await _counts(url, 2, "email")
        finally:
            primary.stop()
    by_primary = first.by_provider.get("relay-1", 0)
    by_secondary = first.by_provider.get("relay-2", 0)
    duplicates = accepted_secondary - by_secondary
    returned = second.by_provider.get("relay-1", 0) / max(1, customers)
    print(
        f"  primary relay killed after {before_kill} of {customers}: the secondary "
        f"carried mail {takeover:.2f} s later; sent {carried}, failed {first.failed}, lost "
        f"{customers - carried - first.failed}; carried by relay-1 {by_primary}, relay-2 "
        f"{by_secondary}; duplicates at the secondary {duplicates}",
        flush=True,
    )
    print(
        f"  primary back on its port: it carried {returned * 100:.1f} % of the second "
        f"incident's {customers} emails ({second.by_provider})",
        flush=True,
    )
    return {
        "takeover_seconds": takeover,
        "lost": customers - carried - first.failed,
        "failed": first.failed,
        "duplicates_at_secondary": duplicates,
        "first_by_provider": first.by_provider,
        "second_by_provider": second.by_provider,
        "returned_share": returned,
    }
