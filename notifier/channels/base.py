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
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import Any, ClassVar, Self

from notifier.domain.messages import ChannelName, DeliveryResult, OutgoingMessage
from notifier.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

UNSUPPORTED = "unsupported"


class Channel(ABC):
    """Base of every channel. Subclasses set `name` and implement the steps.

    Not generic on purpose: callers hold a `Channel` without caring what it sends. The
    steps take `Any` here and each subclass declares its own precise payload and response
    types (mypy accepts narrowing an `Any` parameter in an override).
    """

    name: ClassVar[ChannelName]

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

    async def discard_connections(self) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Drop kept connections: the provider went down, so they are likely dead, and the
        probe that finds it back must not fail on one of them."""

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

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[OutgoingMessage] = []
        self.failed: list[OutgoingMessage] = []
        self._failures: deque[DeliveryError] = deque()

    @staticmethod
    def for_channel(name: ChannelName) -> RecordingChannel:
        return _RECORDING_CLASSES[name]()

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


_RECORDING_CLASSES: dict[ChannelName, type[RecordingChannel]] = {
    ChannelName.EMAIL: RecordingChannel,
    ChannelName.SMS: RecordingSmsChannel,
}
