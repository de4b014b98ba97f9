"""Whether a rendered body fits its channel: characters for every channel that has a
limit, SMS segments for the channels that are split in them.

The limits come from the channel's class (`max_chars`, `segmented`) and, for segments,
from settings or lint's own stricter bound: `body_problem`'s callers pass them in.
"""

from __future__ import annotations

from notifier.channels.registry import channel_class
from notifier.domain.messages import RenderedMessage
from notifier.templating.sms_length import SmsLength, sms_segments


def segments_of(rendered: RenderedMessage) -> SmsLength | None:
    """The SMS segments `rendered` costs, for a channel paid in them; None for the others."""
    if not channel_class(rendered.channel).segmented:
        return None
    return sms_segments(rendered.text)


def body_problem(
    text: str, max_chars: int | None, max_segments: int | None, label: str
) -> str | None:
    """Why `text` cannot go as one message of this channel, or None if it can.

    `label` names the channel in the reason ("SMS", "WhatsApp").
    """
    label = label[:1].upper() + label[1:]
    if max_segments is not None:
        length = sms_segments(text)
        if length.segments > max_segments:
            return (
                f"{label} is {length.segments} segments ({length.encoding}), over the limit "
                f"of {max_segments}"
            )
    if max_chars is not None and len(text) > max_chars:
        return f"{label} is {len(text)} characters, over the limit of {max_chars}"
    return None
