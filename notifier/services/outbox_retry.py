"""Sending failed messages again: what `notifier outbox retry`, the API and the console ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.messages import ChannelName
from notifier.errors import InputError
from notifier.outbox.resend import MAX_RETRY as MAX_RETRY  # the faces' bound too
from notifier.outbox.resend import RetryFilter, count_failed, retry_failed

MAX_REASON = 200  # characters of the reason filter


@dataclass(frozen=True)
class RetryResult:
    matched: int  # failed messages the filter selects
    retried: int  # of them, made due again (0 with dry_run)

    def as_dict(self) -> dict[str, int]:
        return {"matched": self.matched, "retried": self.retried}


def make_filter(*, incident_id: int | None, channel: str | None, reason: str | None) -> RetryFilter:
    """Check the filter as a user typed it; InputError names the field."""
    if incident_id is not None and incident_id < 1:
        raise InputError(f"incident: expected a positive id, got {incident_id}")
    if channel is not None and channel not in {c.value for c in ChannelName}:
        known = ", ".join(c.value for c in ChannelName)
        raise InputError(f"channel: {channel!r} is not a channel ({known})")
    if reason is not None:
        reason = reason.strip()
        if not reason:
            raise InputError("reason: empty; leave it out to retry whatever the reason")
        if len(reason) > MAX_REASON:
            raise InputError(f"reason: longer than {MAX_REASON} characters")
    return RetryFilter(incident_id=incident_id, channel=channel, reason=reason)


async def retry(
    engine: AsyncEngine,
    selection: RetryFilter,
    *,
    now: datetime,
    dry_run: bool = False,
    limit: int = MAX_RETRY,
) -> RetryResult:
    """Make failed messages matching `selection` due again (the same rows and keys: nothing
    can go twice); with `dry_run`, only count them."""
    if not 1 <= limit <= MAX_RETRY:
        raise InputError(f"limit: expected 1 to {MAX_RETRY}, got {limit}")
    async with engine.begin() as conn:
        matched = await count_failed(conn, selection)
        retried = 0 if dry_run else await retry_failed(conn, selection, now=now, limit=limit)
    return RetryResult(matched=matched, retried=retried)
