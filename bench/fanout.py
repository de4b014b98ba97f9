"""notifier end to end: `notifier worker` processes already running, then
`notifier incident declare`, until the peers have accepted every message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.peers import Peer, PeerStats, wait_for_both
from bench.setup import database, declare, seed_customers, workers, write_config


@dataclass
class EndToEnd:
    db: str
    channels: tuple[str, ...]
    workers: int
    customers: int
    seconds_to_seed: float
    stats: dict[str, PeerStats] = field(default_factory=dict)
    peak_rss_mb: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    def rate(self, channel: str) -> float:
        """Messages per second of `channel`, from the declare command's return to the last
        message of that channel accepted."""
        stats = self.stats[channel]
        if not stats.last:
            return 0.0
        return stats.accepted / stats.last

    @property
    def first(self) -> float | None:
        firsts = [s.first for s in self.stats.values() if s.first is not None]
        return min(firsts) if firsts else None

    @property
    def complete(self) -> bool:
        return all(s.accepted >= self.customers for s in self.stats.values())

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.stats.values())


async def end_to_end(
    *,
    db: str,
    workdir: Path,
    customers: int,
    channels: Sequence[str],
    worker_count: int,
    smtp: Peer,
    twilio: Peer,
    email_width: int,
    sms_width: int,
    stall: float = 30.0,
) -> EndToEnd:
    name = f"{db}-{'-'.join(channels)}-{worker_count}w"
    folder = workdir / name
    folder.mkdir()
    async with database(db, folder) as url:
        result = EndToEnd(
            db, tuple(channels), worker_count, customers, await seed_customers(url, customers)
        )
        config = write_config(
            folder,
            url,
            smtp,
            twilio,
            channels=channels,
            email_width=email_width,
            sms_width=sms_width,
        )
        peers = {"email": smtp, "sms": twilio}
        for peer in peers.values():
            peer.reset()
        with workers(config, worker_count) as running:
            cpu_before = [w.cpu_seconds() for w in running]
            declared = declare(config)
            await wait_for_both([(peers[c], customers) for c in channels], stall=stall)
            await asyncio.sleep(0.2)  # a late duplicate would show now
            result.stats = {c: peers[c].stats(declared) for c in channels}
            result.peak_rss_mb = [w.peak_rss_mb() for w in running]
            result.cpu_seconds = [
                w.cpu_seconds() - before for w, before in zip(running, cpu_before, strict=True)
            ]
        return result


def describe(run: EndToEnd) -> list[str]:
    lines = [
        f"notifier end to end, {run.db}, {run.workers} worker(s), "
        f"{run.customers} customers, channels {'+'.join(run.channels)}"
        + ("" if run.complete else "  ** INCOMPLETE: not every message arrived **")
    ]
    for channel, stats in run.stats.items():
        lines.append(
            f"  {channel:5} {stats.accepted:>8} accepted  {run.rate(channel):8.0f} msg/s  "
            f"p50 {_s(stats.p50)}  p95 {_s(stats.p95)}  last {_s(stats.last)}  "
            f"duplicates {stats.duplicates}"
        )
    messages = sum(s.accepted for s in run.stats.values())
    if messages:
        lines.append(
            f"  worker CPU per message {sum(run.cpu_seconds) / messages * 1000:.2f} ms "
            "(planning, database and sending, all channels)"
        )
    lines.append(
        f"  first message {_s(run.first)} after the declare command returned; peak RSS "
        f"{', '.join(f'{m:.0f} MB' for m in run.peak_rss_mb)}; worker CPU "
        f"{', '.join(f'{c:.1f} s' for c in run.cpu_seconds)}"
    )
    return lines


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
