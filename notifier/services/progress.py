"""An incident's delivery against the forecast: per channel, how much is handed over, how
much waits, and when the last waiting message will have gone at the channel's capacity
(behind what other subjects have queued at the same or a higher priority).

The incident page and `notifier incident watch` show it. Waiting SMS count one segment
each here: their texts are not read back to size them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.delivery.forecast import forecast_channel
from notifier.delivery.pacing import accounts
from notifier.domain.messages import ChannelName
from notifier.outbox.queries import waiting_by_priority
from notifier.services.report import incident_report
from notifier.services.running import Running


@dataclass(frozen=True, slots=True)
class ChannelProgress:
    channel: ChannelName
    planned: int
    waiting: int
    done_by: datetime | None  # None: nothing waits, or the channel is not paced
    rate: float | None

    @property
    def handed_over(self) -> int:
        return self.planned - self.waiting

    def as_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "handed_over": self.handed_over,
            "waiting": self.waiting,
            "rate": self.rate,
            "done_by": None if self.done_by is None else self.done_by.isoformat(),
        }


async def incident_progress(
    app: Running, incident_id: int, report: dict[str, Any] | None = None
) -> dict[str, ChannelProgress]:
    """Per channel, the incident's progress and when what waits will have gone."""
    now = app.clock.now()
    if report is None:
        report = await incident_report(app.engine, incident_id, now=now)
    paced = accounts(app.settings)
    progress: dict[str, ChannelProgress] = {}
    async with app.engine.connect() as conn:
        for channel in ChannelName:
            stats = report["channels"][channel.value]
            mine = await waiting_by_priority(
                conn, channel.value, subject_type="incident", subject_id=str(incident_id)
            )
            everyone = await waiting_by_priority(conn, channel.value)
            others = {p: n - mine.get(p, 0) for p, n in everyone.items()}
            account = paced.get(channel)
            timing = forecast_channel(
                channel,
                groups={p: (n, n) for p, n in mine.items()},
                ahead=others,
                account=account,
                start=now,
            )
            progress[channel.value] = ChannelProgress(
                channel=channel,
                planned=int(stats["planned"]),
                waiting=int(stats["waiting"]),
                done_by=timing.done_by if mine and account is not None else None,
                rate=None if account is None else account.capacity.rate,
            )
    return progress
