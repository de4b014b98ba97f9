"""The template method and RecordingChannel."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from notifier.channels.base import Channel, RecordingChannel, RecordingSmsChannel
from notifier.domain.messages import ChannelName, DeliveryResult, OutgoingMessage
from notifier.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from tests.peers import email_message, sms_message


class _Flaky(Channel):
    """Raises what it is told to from transport; counts lifecycle calls."""

    name: ClassVar[ChannelName] = ChannelName.EMAIL

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.error = error
        self.opened = self.closed = 0

    async def open_transport(self) -> None:
        self.opened += 1

    async def close_transport(self) -> None:
        self.closed += 1

    def build_payload(self, message: OutgoingMessage) -> str:
        return message.to

    async def transport(self, payload: str) -> str:
        if self.error is not None:
            raise self.error
        return f"ok:{payload}"

    def classify_error(self, exc: Exception) -> DeliveryError | None:
        if isinstance(exc, ConnectionError):
            return TransientDeliveryError(f"link down: {exc}")
        return None

    def parse_result(self, payload: str, response: Any) -> DeliveryResult:
        return DeliveryResult(provider_id=response)


async def test_steps_run_in_order_and_start_once() -> None:
    channel = _Flaky()
    async with channel:
        assert (await channel.send(email_message(to="a@b.example"))).provider_id == "ok:a@b.example"
        await channel.send(email_message())
    assert (channel.opened, channel.closed) == (1, 1)


async def test_library_errors_are_classified_and_chained() -> None:
    cause = ConnectionResetError("peer reset")
    channel = _Flaky(cause)
    with pytest.raises(TransientDeliveryError, match="link down") as caught:
        await channel.send(email_message())
    assert caught.value.__cause__ is cause


async def test_unclassified_errors_propagate_unchanged() -> None:
    channel = _Flaky(KeyError("a bug"))
    with pytest.raises(KeyError):
        await channel.send(email_message())


async def test_never_started_channel_closes_without_opening() -> None:
    channel = _Flaky()
    await channel.close()
    assert (channel.opened, channel.closed) == (0, 0)
    with pytest.raises(RuntimeError, match="closed"):
        await channel.start()


async def test_recording_channel_records_and_fails_on_request() -> None:
    channel = RecordingChannel()
    channel.fail_next(2, retry_after=30)
    channel.fail_next(permanent=True, code="550", reason="no such user")
    outcomes: list[str] = []
    for i in range(4):
        try:
            result = await channel.send(email_message(f"m-{i}"))
            outcomes.append(f"sent {result.provider_id}")
        except TransientDeliveryError as exc:
            outcomes.append(f"transient {exc.retry_after}")
        except PermanentDeliveryError as exc:
            outcomes.append(f"permanent {exc.code} {exc.reason}")
    assert outcomes == [
        "transient 30",
        "transient 30",
        "permanent 550 no such user",
        "sent recorded-1",
    ]
    assert [m.key for m in channel.messages] == ["m-3"]
    assert [m.key for m in channel.failed] == ["m-0", "m-1", "m-2"]


async def test_recording_channel_for_each_channel_name() -> None:
    sms = RecordingChannel.for_channel(ChannelName.SMS)
    assert isinstance(sms, RecordingSmsChannel) and sms.name is ChannelName.SMS
    await sms.send(sms_message())
    with pytest.raises(ValueError, match="email message was given to the sms channel"):
        await sms.send(email_message())
    assert RecordingChannel.for_channel(ChannelName.EMAIL).name is ChannelName.EMAIL
