"""Claim due messages, hand them to their channels concurrently, record what happened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel
from notifier.clock import Clock
from notifier.domain.messages import ChannelName, DeliveryStatus, OutgoingMessage
from notifier.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from notifier.outbox.retry import RetryPolicy
from notifier.store import outbox as store

log = logging.getLogger(__name__)


class Dispatcher:
    """Sends what is due. The dispatcher does not care who planned a message."""

    def __init__(
        self,
        engine: AsyncEngine,
        channels: Mapping[ChannelName, Channel],
        *,
        clock: Clock,
        worker_id: str,
        retry: RetryPolicy,
        lease: timedelta,
        batch_size: int = 500,
        headers: Callable[[store.ClaimedMessage], dict[str, str]] | None = None,
    ) -> None:
        self._engine = engine
        self._channels = channels
        self._clock = clock
        self._worker = worker_id
        self._retry = retry
        self._lease = lease
        self._batch = batch_size
        # Per-message extras decided outside the outbox (List-Unsubscribe, status callback).
        self._headers = headers or (lambda _message: {})

    async def run_once(self) -> int:
        """Send one batch of due messages; returns how many were claimed."""
        now = self._clock.now()
        async with self._engine.begin() as conn:
            await store.release_expired(conn, now)
            claimed = await store.claim_due(
                conn, worker=self._worker, now=now, lease=self._lease, limit=self._batch
            )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(m) for m in claimed))
        async with self._engine.begin() as conn:
            await store.record(conn, worker=self._worker, outcomes=outcomes, now=self._clock.now())
        return len(claimed)

    async def _send(self, message: store.ClaimedMessage) -> store.Outcome:
        channel = self._channels.get(message.channel)
        if channel is None:
            return store.Outcome(
                message.id, DeliveryStatus.FAILED, reason=f"no {message.channel} channel configured"
            )
        outgoing = OutgoingMessage(
            key=message.key,
            channel=message.channel,
            to=message.recipient,
            text=message.text,
            subject=message.subject,
            html=message.html,
            headers=self._headers(message),
        )
        try:
            result = await channel.send(outgoing)
        except DeliveryError as error:
            return self._failure(message, error)
        except Exception as error:  # a bug in a channel must not lose the message
            log.exception("channel %s crashed", message.channel, extra={"action": "send_crash"})
            return self._failure(message, TransientDeliveryError(f"channel error: {error!r}"))
        return store.Outcome(message.id, DeliveryStatus.SENT, provider_id=result.provider_id)

    def _failure(self, message: store.ClaimedMessage, error: DeliveryError) -> store.Outcome:
        when = self._retry.decide(message.attempts, error, self._clock.now())
        if when is None:
            reason = error.reason
            if not isinstance(error, PermanentDeliveryError):
                reason = f"gave up after {message.attempts} attempts: {reason}"
            log.warning(
                "message %s failed: %s", message.id, reason, extra={"action": "send_failed"}
            )
            return store.Outcome(
                message.id, DeliveryStatus.FAILED, reason=reason, error_code=error.code
            )
        return store.Outcome(
            message.id,
            DeliveryStatus.PENDING,
            reason=f"attempt {message.attempts} failed: {error.reason}",
            error_code=error.code,
            next_attempt_at=when,
        )
