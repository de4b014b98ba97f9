"""When the last customer will have heard: a fan-out's messages against the capacity.

Per channel: the messages (SMS: their segments) in groups by priority, what is already
queued ahead of each group (at the same or a higher priority), and the account's rate and
daily quota. Each group is done when everything ahead of it and itself has gone:

    done_by = start + (ahead + units) / rate     (within today's quota)

Beyond a daily quota, the rest goes from the next UTC midnight on, a quota a day. An
unpaced channel (no rate set) is forecast as "at once": notifier hands everything over and
the provider's own pace decides, which nobody can promise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from notifier.delivery.pacing import Account
from notifier.domain.messages import ChannelName

_NAMES = {ChannelName.SMS: "SMS", ChannelName.EMAIL: "Email"}


@dataclass(frozen=True, slots=True)
class PriorityGroup:
    priority: int
    messages: int
    units: int
    done_by: datetime | None  # None: unpaced


@dataclass(frozen=True, slots=True)
class ChannelTiming:
    channel: ChannelName
    messages: int
    units: int
    rate: float | None  # units per second; None: not paced
    ahead: int  # units already queued at the same or a higher priority
    done_by: datetime | None
    start: datetime  # when the forecast was made: what `done_by` counts from
    groups: tuple[PriorityGroup, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def unit(self) -> str:
        return "segments" if self.channel is ChannelName.SMS else "messages"

    def summary(self) -> str:
        """One line, e.g. "SMS: 412,000 segments at 100/s, everyone by 03:17 UTC"."""
        name = _NAMES.get(self.channel, self.channel.value.capitalize())
        head = f"{name}: {self.units:,} {self.unit}"
        if self.messages == 0:
            return f"{name}: nothing to send"
        if self.rate is None or self.done_by is None:
            return f"{head}, not paced (no capacity set): handed over at once"
        ahead = f" after {self.ahead:,} queued" if self.ahead else ""
        return f"{head} at {self.rate:g}/s{ahead}, everyone by {_clock(self.done_by)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "units": self.units,
            "unit": self.unit,
            "rate": self.rate,
            "ahead": self.ahead,
            "done_by": None if self.done_by is None else self.done_by.isoformat(),
            "start": self.start.isoformat(),
            "by_priority": [
                {
                    "priority": g.priority,
                    "messages": g.messages,
                    "units": g.units,
                    "done_by": None if g.done_by is None else g.done_by.isoformat(),
                }
                for g in self.groups
            ],
            "summary": self.summary(),
            "warnings": list(self.warnings),
        }


def _clock(when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{when:%H:%M} UTC" if when.second == 0 else f"{when:%H:%M:%S} UTC"


def finish_time(start: datetime, units: float, account: Account) -> datetime:
    """When `units` queued now at `start` will all have gone, at the account's pace."""
    capacity = account.capacity
    quota = capacity.daily_quota
    if quota is None or units <= quota:
        return start + timedelta(seconds=units / capacity.rate)
    # Today's quota first (taken as unspent), then a quota a day from each midnight.
    day = start.astimezone(UTC).date() + timedelta(days=1)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rest = units - quota
    days, last = divmod(rest, quota)
    if last == 0:
        days, last = days - 1, quota
    return midnight + timedelta(days=days, seconds=last / capacity.rate)


def forecast_channel(
    channel: ChannelName,
    *,
    groups: Mapping[int, tuple[int, int]],
    ahead: Mapping[int, int],
    account: Account | None,
    start: datetime,
    eta: datetime | None = None,
) -> ChannelTiming:
    """`groups`: priority -> (messages, units) of this fan-out; `ahead`: priority -> units
    already queued at that priority. Each group waits for what is queued at its priority
    and above, and for this fan-out's higher groups."""
    messages = sum(m for m, _ in groups.values())
    units = sum(u for _, u in groups.values())
    done: list[PriorityGroup] = []
    total_ahead = 0
    finish: datetime | None = None
    before = 0  # this fan-out's units in higher groups
    for priority in sorted(groups, reverse=True):
        count, size = groups[priority]
        queued = sum(n for p, n in ahead.items() if p >= priority)
        total_ahead = max(total_ahead, queued)
        when = None
        if account is not None:
            when = finish_time(start, queued + before + size, account)
            finish = when if finish is None else max(finish, when)
        done.append(PriorityGroup(priority, count, size, when))
        before += size
    warnings: list[str] = []
    if account is not None and finish is not None and messages:
        if eta is not None and finish > eta:
            warnings.append(
                f"the last customer hears at {_clock(finish)}, after the ETA "
                f"({_clock(eta)}): they may hear of the outage after it is over"
            )
        queue = account.provider_queue_seconds
        if (total_ahead + units) / account.capacity.rate > queue:
            hours = queue / 3600
            warnings.append(
                f"more than {hours:g}h of the provider's throughput: beyond what it would "
                "queue, so notifier holds the rest and hands it over at its pace"
            )
    return ChannelTiming(
        channel=channel,
        messages=messages,
        units=units,
        rate=None if account is None else account.capacity.rate,
        ahead=total_ahead,
        done_by=finish if messages else start,
        start=start,
        groups=tuple(done),
        warnings=tuple(warnings),
    )
