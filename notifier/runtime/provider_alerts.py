"""One alert to operations when every provider of a channel is down, not one per message.

The failover channel calls `note` once per outage (when the last provider becomes
unavailable); the worker turns what was noted into one email to `operations_email` through
the outbox. Its key names the channel and the hour, so several workers noticing the same
outage still make one message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.engine.fanout import OPERATIONS_ID
from notifier.outbox.planned import PlannedMessage

RULE = "providers-down-operations"


@dataclass
class ProviderAlerts:
    operations_email: str | None
    noted: list[tuple[ChannelName, str]] = field(default_factory=list)

    def note(self, channel: ChannelName, states: str) -> None:
        self.noted.append((channel, states))

    def take(self, now: datetime) -> list[PlannedMessage]:
        noted, self.noted = self.noted, []
        if self.operations_email is None:
            return []
        return [alert(channel, states, now, self.operations_email) for channel, states in noted]


def alert(channel: ChannelName, states: str, now: datetime, to: str) -> PlannedMessage:
    text = (
        f"Every {channel} provider is unavailable since {now:%Y-%m-%d %H:%M} UTC: {states}.\n\n"
        "Messages are kept and retried: nothing is lost. They go as soon as a provider takes "
        "them again; each provider is probed after its cool-down.\n"
        "Failed ones, if any (after delivery.max_patience), can be sent again with "
        f"`notifier outbox retry --channel {channel}`.\n"
    )
    return PlannedMessage(
        key=f"ops:providers-down:{channel}:{now:%Y-%m-%dT%H}",
        customer_id=OPERATIONS_ID,
        channel=ChannelName.EMAIL,
        recipient=to,
        locale="en",
        rule=RULE,
        template=RULE,
        subject_type="delivery",
        subject_id=str(channel),
        event_id=None,
        status=DeliveryStatus.PENDING,
        planned_at=now,
        next_attempt_at=now,
        subject=f"Every {channel} provider is down",
        text=text,
    )
