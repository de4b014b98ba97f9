"""The channel contract: one template method, three steps per provider.

    send(message)
      ├── build_payload(message)   -> payload   pure; bad input raises PermanentDeliveryError
      ├── transport(payload)       -> response  talks to the provider
      │     └── classify_error(exc)             a library exception -> our DeliveryError
      └── parse_result(payload, response) -> DeliveryResult

Failure is always one of two exceptions (notifier.errors): TransientDeliveryError (try the
same message again later, after `retry_after` seconds when the provider said so) or
PermanentDeliveryError (never retry; `code` and `reason` say why). A channel that cannot
honour part of a message fails loudly with PermanentDeliveryError(code="unsupported").

What a channel is, as the rest of notifier needs to know it, is declared once on its class
(see `Channel`): planning reads the address and the length rules from there, templating
the parts a template has, dispatch the concurrency, the webhooks the inbound address
prefix. Nothing outside a channel's module tests a channel's name; `channels.registry`
finds the class for a name and refuses a name without one.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from notifier.domain.customers import ContactField
from notifier.domain.messages import ChannelName, DeliveryResult, OutgoingMessage
from notifier.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

if TYPE_CHECKING:
    from notifier.config import Settings

UNSUPPORTED = "unsupported"


class Channel(ABC):
    """Base of every channel. Subclasses set `name` and implement the steps.

    Not generic on purpose: callers hold a `Channel` without caring what it sends. The
    steps take `Any` here and each subclass declares its own precise payload and response
    types (mypy accepts narrowing an `Any` parameter in an override).
    """

    name: ClassVar[ChannelName]
    # What a customer is told the channel is called ("SMS", "WhatsApp").
    label: ClassVar[str]
    # The customer's contact field this channel sends to (its suppression reason when
    # empty comes with the field: "no phone number").
    address_field: ClassVar[ContactField]
    # A template for this channel has a subject and an HTML part (an email), or is one
    # plain text (an SMS, a WhatsApp message).
    has_subject: ClassVar[bool] = False
    has_html: ClassVar[bool] = False
    # The longest body the provider takes, in characters (None: no limit).
    max_chars: ClassVar[int | None] = None
    # The body is paid and split in SMS segments (GSM-7 or UCS-2): lint and planning count
    # them, and no-break spaces in dates are made plain (one would make it all UCS-2).
    segmented: ClassVar[bool] = False
    # Its messages reach a phone at once: quiet hours hold them even when a rule leaves
    # email alone (`quiet_hours_email = false`).
    intrusive: ClassVar[bool] = True
    # Where the provider posts delivery statuses for it (a path under api.public_base_url),
    # or None when it has no status callbacks.
    status_callback_path: ClassVar[str | None] = None
    # Emails to customers carry a one-click List-Unsubscribe link.
    list_unsubscribe: ClassVar[bool] = False
    # Inbound messages from customers (STOP, START, HELP, replies) arrive with a sender
    # address of this form: the prefix, then the E.164 phone ("whatsapp:+1555...").
    # None: the channel takes no replies.
    inbound_prefix: ClassVar[str | None] = None
    # Provider error codes (as DeliveryError.code) that mean "never retry this message".
    # The channel's own error table decides (classify_error); this is its summary, for
    # readers and for code that wants to know without sending.
    permanent_codes: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> Channel | None:
        """The channel built from its settings block, or None when it is turned off."""
        raise NotImplementedError(f"the {cls.name} channel cannot be built from settings")

    @classmethod
    def segment_limit(cls, settings: Settings) -> int | None:
        """Most SMS segments a message may take (segmented channels only)."""
        return None

    @classmethod
    def inbound_address(cls, sender: str) -> str | None:
        """The customer's phone behind an inbound sender address, if it is this channel's."""
        prefix = cls.inbound_prefix
        if prefix is None or not sender.startswith(prefix):
            return None
        return sender[len(prefix) :]

    @property
    def concurrency(self) -> int:
        """How many messages this channel has in flight at once (the dispatcher runs that
        many senders for it). Providers' channels size it from their settings."""
        return 8

    def __init__(self) -> None:
        self._started = False
        self._closed = False
        # Concurrent first sends must open the transport once, not once each.
        self._start_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the transport (idempotent). `send` calls it, so calling it is optional."""
        if self._closed:
            raise RuntimeError(f"the {self.name} channel is closed")
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self.open_transport()
                self._started = True

    async def close(self) -> None:
        """Release connections (idempotent). A closed channel refuses to send."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            await self.close_transport()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the template method ---------------------------------------------------------------

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Deliver one message to the provider, or raise a DeliveryError."""
        if message.channel != self.name:
            # A routing bug, not a delivery outcome: let it crash loudly.
            raise ValueError(f"a {message.channel} message was given to the {self.name} channel")
        await self.start()
        payload = self.build_payload(message)
        try:
            response = await self.transport(payload)
        except DeliveryError:
            raise
        except Exception as exc:
            error = self.classify_error(exc)
            if error is None:
                raise
            raise error from exc
        return self.parse_result(payload, response)

    # -- the steps -------------------------------------------------------------------------

    async def open_transport(self) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Open clients or pools; called once, from `start`."""

    async def close_transport(self) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Release what `open_transport` opened; called once, from `close`."""

    @abstractmethod
    def build_payload(self, message: OutgoingMessage) -> Any:
        """Turn a message into what the provider takes. No I/O."""

    @abstractmethod
    async def transport(self, payload: Any) -> Any:
        """Hand the payload to the provider and return its answer."""

    @abstractmethod
    def classify_error(self, exc: Exception) -> DeliveryError | None:
        """Map a library exception raised by `transport` to our errors; None re-raises it."""

    @abstractmethod
    def parse_result(self, payload: Any, response: Any) -> DeliveryResult:
        """Read the provider's answer into a DeliveryResult."""


class RecordingChannel(Channel):
    """An in-memory channel for tests and `rules simulate`: it records what it is given.

    `fail_next(n)` makes the next n sends fail (transiently unless `permanent=True`); the
    failed messages are recorded in `failed`, not in `messages`.
    """

    name: ClassVar[ChannelName] = ChannelName.EMAIL
    label: ClassVar[str] = "recording"
    address_field: ClassVar[ContactField] = "email"

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[OutgoingMessage] = []
        self.failed: list[OutgoingMessage] = []
        self._failures: deque[DeliveryError] = deque()

    @staticmethod
    def for_channel(name: ChannelName) -> RecordingChannel:
        cls = _RECORDING_CLASSES.get(name)
        if cls is None:
            # Every channel name gets one: the recorder only needs the name to match.
            cls = type(f"Recording{name.name.title()}Channel", (RecordingChannel,), {"name": name})
            _RECORDING_CLASSES[name] = cls
        return cls()

    def fail_next(
        self,
        n: int = 1,
        *,
        permanent: bool = False,
        code: str | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        for _ in range(n):
            if permanent:
                error: DeliveryError = PermanentDeliveryError(
                    reason or "recording channel: scripted permanent failure", code=code
                )
            else:
                error = TransientDeliveryError(
                    reason or "recording channel: scripted transient failure",
                    code=code,
                    retry_after=retry_after,
                )
            self._failures.append(error)

    def build_payload(self, message: OutgoingMessage) -> OutgoingMessage:
        return message

    async def transport(self, payload: OutgoingMessage) -> DeliveryResult:
        if self._failures:
            self.failed.append(payload)
            raise self._failures.popleft()
        self.messages.append(payload)
        return DeliveryResult(provider_id=f"recorded-{len(self.messages)}", detail="recorded")

    def classify_error(self, exc: Exception) -> DeliveryError | None:
        return None

    def parse_result(self, payload: OutgoingMessage, response: DeliveryResult) -> DeliveryResult:
        return response


class RecordingSmsChannel(RecordingChannel):
    name: ClassVar[ChannelName] = ChannelName.SMS
    address_field: ClassVar[ContactField] = "phone"


_RECORDING_CLASSES: dict[ChannelName, type[RecordingChannel]] = {
    ChannelName.EMAIL: RecordingChannel,
    ChannelName.SMS: RecordingSmsChannel,
}
