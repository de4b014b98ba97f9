"""Which class implements each channel: the one place a channel name meets its code.

Everything that must know what a channel can do (planning, templating, dispatch, webhooks)
asks `channel_class(name)`; nothing tests a channel's name. A name with no class here is
refused loudly (`UnknownChannel`), never treated as some other channel.

Adding a channel: a member of `ChannelName`, its module under `notifier/channels/`, a line
here, its settings block and its templates.

The modules are imported on first use: `channels.sms` needs `templating.sms_length`, whose
package imports the catalog that asks this registry, so importing them at the top would
make a cycle (and CLI commands that never plan or send would load them for nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module

from notifier.channels.base import Channel
from notifier.domain.messages import ChannelName
from notifier.errors import NotifierError

__all__ = [
    "CHANNEL_CLASSES",
    "UnknownChannel",
    "channel_class",
    "channel_classes",
    "inbound_channel",
]

# name -> "module:Class"
CHANNEL_CLASSES: dict[str, str] = {
    ChannelName.EMAIL.value: "notifier.channels.email:EmailChannel",
    ChannelName.SMS.value: "notifier.channels.sms:SmsChannel",
    ChannelName.WHATSAPP.value: "notifier.channels.whatsapp:WhatsAppChannel",
}

_loaded: dict[str, type[Channel]] = {}


class UnknownChannel(NotifierError, LookupError):
    """A channel name that no channel class implements (a bug or a stale row: never guessed)."""

    def __init__(self, name: object) -> None:
        known = ", ".join(sorted(CHANNEL_CLASSES))
        super().__init__(f"no channel class for {str(name)!r} (channels: {known})")
        self.name = name


def channel_class(name: ChannelName | str) -> type[Channel]:
    """The class of channel `name`; UnknownChannel if there is none."""
    key = str(name.value if isinstance(name, ChannelName) else name)
    cls = _loaded.get(key)
    if cls is not None:
        return cls
    where = CHANNEL_CLASSES.get(key)
    if where is None:
        raise UnknownChannel(name)
    module, _, attribute = where.partition(":")
    cls = getattr(import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Channel)) or cls.name != key:
        raise TypeError(f"{where} is not the Channel class of {key!r}")
    _loaded[key] = cls
    return cls


def channel_classes() -> Iterator[type[Channel]]:
    """Every channel's class, in ChannelName order (UnknownChannel if one has none)."""
    for name in ChannelName:
        yield channel_class(name)


def inbound_channel(sender: str) -> tuple[type[Channel], str] | None:
    """The channel an inbound message came by, from its sender address, and the customer's
    phone: "whatsapp:+1555..." is WhatsApp's, "+1555..." SMS's. The longest matching
    prefix wins; None if no channel takes replies from such an address."""
    best: tuple[type[Channel], str] | None = None
    for cls in channel_classes():
        phone = cls.inbound_address(sender)
        if phone is None or not phone.startswith("+"):
            continue
        if best is None or len(cls.inbound_prefix or "") > len(best[0].inbound_prefix or ""):
            best = (cls, phone)
    return best
