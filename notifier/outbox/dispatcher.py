"""Claim due messages, hand them to their channels concurrently, record what happened.

Two ways to run:

- `run_once()` claims one batch (every channel), sends it, records it. `Worker.step()`
  uses it, so tests and `rules simulate` move batch by batch on a virtual clock.
- `run()`, until `stop()`, keeps every channel busy with one lane per channel:

      claim (a batch) ──► local queue ──► `width` senders ──► outcomes ──► record (a batch)
            ▲                                                                 │
            └───────────── one transaction: record the last, claim the next ◄─┘

  `width` is the channel's own concurrency (SMTP connections, concurrent Twilio
  requests). The queue is refilled while it is still half full, so a sender never waits
  for the database, nothing waits for the slowest message of a batch, and a slow channel
  never holds up the other. Outcomes are written back in small batches: as soon as
  `width` of them wait, or `FLUSH_AFTER` seconds after the first came. A sender starts
  no send while `width + max(width, UNRECORDED_AT_LEAST)` messages of its lane are sent or
  being sent but not recorded: that is the most a crash can leave unrecorded (and so send
  again after the lease), per channel: what was in flight plus one short recording
  interval's outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.channels.base import Channel
from notifier.clock import Clock
from notifier.domain.messages import ChannelName, DeliveryStatus, OutgoingMessage
from notifier.errors import (
    DeliveryError,
    NotFound,
    PermanentDeliveryError,
    ProviderThrottled,
    RecipientOptedOut,
    TransientDeliveryError,
)
from notifier.outbox import claims
from notifier.outbox.claims import ClaimedMessage
from notifier.outbox.outcomes import Outcome, record
from notifier.outbox.retry import RetryPolicy, is_provider_wide
from notifier.store.customers import set_opt_out
from notifier.store.db import RETRY_OUTAGE_AFTER, brief

log = logging.getLogger(__name__)

FLUSH_AFTER = 0.05  # seconds an outcome may wait before it is written
# Outcomes a lane may hold unrecorded besides its sends in flight, at least: a narrow
# channel (2 SMTP connections) would otherwise wait for a commit every two messages.
UNRECORDED_AT_LEAST = 16
_RELEASE_EVERY = 5.0  # seconds between looks for claims whose lease ran out
# The opt-out reason when a provider refused because the recipient opted out with it.
PROVIDER_OPT_OUT = "opted out at the provider (refused as unsubscribed)"

Headers = Callable[[ClaimedMessage], dict[str, str]]
# Twilio keeps a message queued at most this long (ValidityPeriod 1..36000 s).
MAX_VALIDITY = 36_000
# A throttling answer ("slow down": SMTP 421/451/454, Twilio 429/21611/30001) halves a paced
# channel's rate for a minute, for every worker sharing its account.
SLOW_DOWN_FACTOR = 2.0
SLOW_DOWN_FOR = 60.0


class Turn(Protocol):
    @property
    def granted(self) -> bool: ...
    @property
    def wait(self) -> float: ...


class Pace(Protocol):
    """What the dispatcher asks of the pacer (delivery/pacing.py): turns per channel."""

    def claim_ahead(self, channel: ChannelName) -> int | None:
        """How many messages a lane may hold claimed (None: not paced)."""
        ...

    async def try_turn(self, channel: ChannelName, text: str) -> Turn:
        """A turn now, or how long until one."""
        ...

    async def wait_turn(self, channel: ChannelName, text: str) -> None:
        """Wait for a turn and take it."""
        ...

    async def slow_down(
        self, provider: ChannelName | str, factor: float, for_seconds: float
    ) -> None:
        """The provider answered "slow down": stretch the channel's pace for a while."""
        ...


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
        headers: Headers | None = None,
        poll: float = 1.0,
        pace: Pace | None = None,
    ) -> None:
        self._engine = engine
        self._channels = channels
        self._clock = clock
        self._worker = worker_id
        self._retry = retry
        self._lease = lease
        self._batch = batch_size
        # Per-message extras decided outside the outbox (List-Unsubscribe, status callback).
        self._headers: Headers = headers or (lambda _message: {})
        self._poll = poll
        # Providers' capacity: each send waits for its account's turn. None: unpaced.
        self._pace = pace
        self._lanes: list[_Lane] = []
        self._stopping = False
        self._last_release = float("-inf")
        self.handled = 0  # messages `run()` handed to a channel (whatever the outcome)

    # -- one batch at a time -----------------------------------------------------------------

    async def run_once(self) -> int:
        """Send one batch of due messages; returns how many were claimed."""
        now = self._clock.now()
        async with self._engine.begin() as conn:
            await claims.release_expired(conn, now)
            claimed = await claims.claim_due(
                conn, worker=self._worker, now=now, lease=self._lease, limit=self._batch
            )
        if not claimed:
            return 0
        claimed = await self._paced(claimed)
        outcomes = await asyncio.gather(*(self._send(m) for m in claimed))
        async with self._engine.begin() as conn:
            await self._record(conn, outcomes, self._clock.now())
        return len(claimed)

    async def _paced(self, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
        """The claimed messages their accounts have turns for now (in claim order); the
        rest go back, due when their channel's next turn comes, without counting an
        attempt. On a virtual clock this is how a rehearsal models capacity."""
        if self._pace is None:
            return claimed
        now = self._clock.now()
        go: list[ClaimedMessage] = []
        later: dict[datetime, list[int]] = {}
        full: dict[ChannelName, datetime] = {}
        for message in claimed:
            if message.channel not in full:
                turn = await self._pace.try_turn(message.channel, message.text)
                if turn.granted:
                    go.append(message)
                    continue
                full[message.channel] = now + timedelta(seconds=turn.wait)
            later.setdefault(full[message.channel], []).append(message.id)
        if later:
            async with self._engine.begin() as conn:
                for due, ids in later.items():
                    await claims.release(conn, worker=self._worker, ids=ids, now=now, due=due)
        return go

    # -- continuously ----------------------------------------------------------------------

    async def run(self) -> None:
        """Keep every channel busy until `stop()`; then finish what is in flight.

        Claimed messages not started yet are given back, so another worker may take them
        at once instead of after the lease.
        """
        self._stopping = False
        names = list(ChannelName)  # a lane even for a channel not configured: it fails them
        self._lanes = [_Lane(self, name, self._channels.get(name)) for name in names]
        try:
            await asyncio.gather(*(lane.run() for lane in self._lanes))
        finally:
            self._lanes = []

    def wake(self, _topic: str | None = None) -> None:
        """New messages may be due: idle lanes look now rather than at their next poll."""
        for lane in self._lanes:
            lane.news()

    def wake_channels(self, channels: Collection[str]) -> None:
        """Messages for these channels were just planned: only their lanes look now (a
        lane with nothing new would spend a claim finding nothing)."""
        for lane in self._lanes:
            if lane.channel in channels:
                lane.news()

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- shared by both ways ---------------------------------------------------------------

    async def _send(self, message: ClaimedMessage) -> Outcome:
        channel = self._channels.get(message.channel)
        if channel is None:
            return Outcome(
                message.id, DeliveryStatus.FAILED, reason=f"no {message.channel} channel configured"
            )
        valid_for: int | None = None
        if message.expires_at is not None:
            left = (message.expires_at - self._clock.now()).total_seconds()
            if left < 1:
                # Late news is worse than none: it is not handed over at all.
                return Outcome(
                    message.id,
                    DeliveryStatus.CANCELLED,
                    reason=f"expired unsent at {message.expires_at:%Y-%m-%d %H:%M} UTC: "
                    "too late to be worth delivering",
                )
            valid_for = min(int(left), MAX_VALIDITY)
        try:
            outgoing = OutgoingMessage(
                key=message.key,
                channel=message.channel,
                to=message.recipient,
                text=message.text,
                subject=message.subject,
                html=message.html,
                headers=self._headers(message),
                valid_for=valid_for,
            )
            result = await channel.send(outgoing)
        except ProviderThrottled as error:
            # The configured rate was more than the provider would take today: every
            # worker sharing the account halves its pace for a while, besides this message
            # waiting for the provider's Retry-After.
            if self._pace is not None:
                await self._pace.slow_down(message.channel, SLOW_DOWN_FACTOR, SLOW_DOWN_FOR)
            return self._failure(message, error)
        except DeliveryError as error:
            return self._failure(message, error)
        except Exception as error:  # a bug in a channel must not lose the message
            log.exception("channel %s crashed", message.channel, extra={"action": "send_crash"})
            return self._failure(message, TransientDeliveryError(f"channel error: {error!r}"))
        return Outcome(
            message.id,
            DeliveryStatus.SENT,
            provider_id=result.provider_id,
            provider=result.provider,
        )

    def _failure(self, message: ClaimedMessage, error: DeliveryError) -> Outcome:
        now = self._clock.now()
        provider_wide = is_provider_wide(error)
        when = self._retry.decide(message.attempts, error, now, since=message.created_at)
        if when is None:
            reason = error.reason
            if provider_wide:
                waited = now - (message.created_at or now)
                reason = f"gave up after waiting {_minutes(waited)} for the provider: {reason}"
            elif not isinstance(error, PermanentDeliveryError):
                reason = f"gave up after {message.attempts} attempts: {reason}"
            log.warning(
                "message %s failed: %s", message.id, reason, extra={"action": "send_failed"}
            )
            opt_out = (
                (message.customer_id, message.channel)
                if isinstance(error, RecipientOptedOut)
                else None
            )
            return Outcome(
                message.id,
                DeliveryStatus.FAILED,
                reason=reason,
                error_code=error.code,
                opt_out=opt_out,
            )
        if provider_wide:
            # Not this message's fault: it waits without spending an attempt.
            return Outcome(
                message.id,
                DeliveryStatus.PENDING,
                reason=f"waiting for the provider: {error.reason}",
                error_code=error.code,
                next_attempt_at=when,
                counted=False,
            )
        return Outcome(
            message.id,
            DeliveryStatus.PENDING,
            reason=f"attempt {message.attempts} failed: {error.reason}",
            error_code=error.code,
            next_attempt_at=when,
        )

    async def _record(
        self, conn: AsyncConnection, outcomes: Sequence[Outcome], now: datetime
    ) -> None:
        """Write outcomes, in the caller's transaction (the one place both ways record)."""
        await record(conn, worker=self._worker, outcomes=outcomes, now=now)
        for outcome in outcomes:
            if outcome.opt_out is not None:
                customer_id, channel = outcome.opt_out
                # The provider will refuse every later message too: opt the customer out of
                # the channel, as an inbound STOP would (a deleted customer has nothing to do).
                with contextlib.suppress(NotFound):
                    await set_opt_out(conn, customer_id, channel, PROVIDER_OPT_OUT, now)

    def _release_due(self) -> bool:
        """True at most every few seconds (one lane then gives back expired claims)."""
        now = time.monotonic()
        if now - self._last_release < _RELEASE_EVERY:
            return False
        self._last_release = now
        return True


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


# A claimed message and the time after which it must not be sent any more (its lease is
# about to run out: another worker may take it).
_Item = tuple[ClaimedMessage, datetime]
# The lane's queue is ordered like the claim, so an outage notice claimed after a batch of
# order messages still leaves before them. The stop marker sorts after everything.
_Queued = tuple[tuple[int, float, int], _Item | None]
_STOP: _Queued = ((1_000, 0.0, 0), None)


def _queued(item: _Item) -> _Queued:
    message = item[0]
    due = message.due_at.timestamp() if message.due_at is not None else 0.0
    return ((-message.priority, due, message.id), item)


class _Lane:
    """One channel's feeder and senders (see the module docstring)."""

    def __init__(self, dispatcher: Dispatcher, name: ChannelName, channel: Channel | None) -> None:
        self._d = dispatcher
        self.channel = name  # a StrEnum: equal to, and hashed as, its string
        # A channel not configured only fails its messages: one sender is plenty.
        self._width = 1 if channel is None else max(1, channel.concurrency)
        # Enough queued to keep every sender busy while the next claim runs; a paced
        # channel holds only about a second of its capacity, since what is claimed can
        # no longer be superseded by newer news.
        self._capacity = min(dispatcher._batch, max(16 * self._width, 64))
        pace = dispatcher._pace
        ahead = pace.claim_ahead(name) if pace is not None else None
        if ahead is not None:
            self._capacity = min(self._capacity, ahead)
        self._refill_at = max(self._capacity // 2, 1)
        # Recorded once every sender has brought one: a crash then loses the record of
        # at most what is in flight plus one batch being written (see `_room`).
        self._flush_at = self._width
        self._most_open = self._width + max(self._width, UNRECORDED_AT_LEAST)
        # Messages sent or being sent whose outcome is not committed yet.
        self._open = 0
        self._recorded = asyncio.Event()
        self._recording = False  # a sender is recording outcomes (see `_room`)
        self._unsent: list[int] = []  # taken by a sender that then had to stop
        self._queue: asyncio.PriorityQueue[_Queued] = asyncio.PriorityQueue()
        self._outcomes: list[Outcome] = []
        self._oldest_outcome = 0.0  # monotonic time the oldest unrecorded outcome came
        self.poke = asyncio.Event()
        self._turns = asyncio.Lock()  # paced: one sender at a time waits for a turn
        # Whether a claim may find due messages: new work was announced, the last claim
        # was full, or a poll interval has passed since the last look (messages also fall
        # due by themselves: a retry's time comes, a lease runs out). A claim that came
        # back short left nothing due: claiming again each time a sender takes a message
        # was a write transaction per message finding nothing, at low rates.
        self._look = True
        self._more = True
        self._looked_at = float("-inf")  # monotonic time of the last claim
        # New work was announced since the last claim, and how many queued messages hold
        # each priority: a lane full of order messages claims an outage notice at once.
        self._news = True
        self._priorities: Counter[int] = Counter()

    def news(self) -> None:
        """Messages may have fallen due: look at the next turn."""
        self._look = True
        self._news = True
        self.poke.set()

    async def run(self) -> None:
        senders = [
            asyncio.create_task(self._sender(), name=f"send-{self.channel}-{i}")
            for i in range(self._width)
        ]
        try:
            await self._feed()
        except BaseException:
            for task in senders:
                task.cancel()
            raise
        unsent: list[int] = []
        while not self._queue.empty():
            _order, item = self._queue.get_nowait()
            if item is not None:
                unsent.append(item[0].id)
        for _ in senders:
            self._queue.put_nowait(_STOP)
        await asyncio.gather(*senders)
        await self._finish(unsent + self._unsent)

    async def _feed(self) -> None:
        while not self._d.stopping:
            self.poke.clear()
            queued = self._queue.qsize()
            look = self._look or self._more or time.monotonic() - self._looked_at >= self._d._poll
            want = self._capacity - queued if queued < self._refill_at and look else 0
            above = None
            if not want and self._news and queued < 2 * self._capacity:
                # Told of new work while still more than half full: claim now only what
                # outranks everything queued (an outage notice over an order backlog),
                # rather than after half the queue has gone, at a paced channel's rate
                # seconds later. The queue may hold up to twice its capacity for it.
                above = min((p for p, n in self._priorities.items() if n > 0), default=None)
                want = self._capacity if above is not None else 0
            flush = bool(self._outcomes) and (
                len(self._outcomes) >= self._flush_at
                or time.monotonic() - self._oldest_outcome >= FLUSH_AFTER
            )
            idle = False
            if want or flush:
                if want:
                    self._look = self._news = False  # news from now on comes with a poke
                    self._looked_at = time.monotonic()
                claimed = await self._exchange(want, above)
                if claimed is None:  # the database failed; outcomes are kept for next time
                    self._look = self._news = True
                    await asyncio.sleep(RETRY_OUTAGE_AFTER)
                    continue
                if want and above is None:
                    self._more = len(claimed) >= want
                deadline = self._d._clock.now() + self._d._lease * 0.9
                for message in claimed:
                    self._priorities[message.priority] += 1
                    self._queue.put_nowait(_queued((message, deadline)))
                idle = want > 0 and not claimed and above is None
            if self._outcomes:
                timeout = FLUSH_AFTER
            else:
                timeout = self._d._poll if idle or not self._queue.qsize() else FLUSH_AFTER
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poke.wait(), timeout)

    async def _exchange(self, want: int, above: int | None) -> list[ClaimedMessage] | None:
        """Record the outcomes so far and claim up to `want` more (of a priority `above`,
        if given), in one transaction."""
        outcomes, self._outcomes = self._outcomes, []
        d = self._d
        now = d._clock.now()
        try:
            async with d._engine.begin() as conn:
                if outcomes:
                    await d._record(conn, outcomes, now)
                if d._release_due():
                    await claims.release_expired(conn, now)
                claimed = []
                if want:
                    claimed = await claims.claim_due(
                        conn,
                        worker=d._worker,
                        now=now,
                        lease=d._lease,
                        limit=want,
                        channel=self.channel,
                        above=above,
                    )
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "%s lane: database error, retrying: %s",
                self.channel,
                brief(exc),
                extra={"action": "dispatch_db_error"},
            )
            self._keep(outcomes)
            return None
        self._committed(len(outcomes))
        return claimed

    def _committed(self, n: int) -> None:
        if n:
            self._open -= n
            self._recorded.set()

    async def _room(self) -> bool:
        """Wait until this lane may start one more send; False if it is stopping instead.
        While a database outage keeps outcomes from being recorded, sending pauses too:
        nothing piles up that a crash would send again."""
        while self._open >= self._most_open:
            if self._d.stopping:
                return False
            if self._outcomes and not self._recording:
                # The feeder may be busy claiming: record now rather than wait for it.
                await self._record_now()
                continue
            self._recorded.clear()
            self.poke.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recorded.wait(), FLUSH_AFTER)
        self._open += 1
        return True

    async def _record_now(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        self._recording = True
        d = self._d
        try:
            async with d._engine.begin() as conn:
                await d._record(conn, outcomes, d._clock.now())
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "%s lane: database error, retrying: %s",
                self.channel,
                brief(exc),
                extra={"action": "dispatch_db_error"},
            )
            self._keep(outcomes)
            await asyncio.sleep(RETRY_OUTAGE_AFTER)
            return
        finally:
            self._recording = False
        self._committed(len(outcomes))

    def _keep(self, outcomes: list[Outcome]) -> None:
        if outcomes:
            if not self._outcomes:
                self._oldest_outcome = time.monotonic()
            self._outcomes[:0] = outcomes

    async def _sender(self) -> None:
        while (message := await self._next()) is not None:
            if not await self._room():
                self._unsent.append(message.id)
                continue
            outcome = await self._d._send(message)
            self._d.handled += 1
            if not self._outcomes:
                self._oldest_outcome = time.monotonic()
                self.poke.set()  # the feeder may be sleeping for longer than FLUSH_AFTER
            self._outcomes.append(outcome)
            if len(self._outcomes) >= self._flush_at:
                self.poke.set()

    async def _next(self) -> ClaimedMessage | None:
        """The next message to send (None: stop). On a paced channel, one sender at a time
        takes a message and waits for its turn: a message taken from the queue is out of
        reach of newer, more important ones, so the lane holds no more than its claim."""
        if self._d._pace is None:
            return await self._take()
        async with self._turns:
            return await self._take(paced=True)

    async def _take(self, *, paced: bool = False) -> ClaimedMessage | None:
        queue = self._queue
        while (item := (await queue.get())[1]) is not None:
            message, deadline = item
            self._priorities[message.priority] -= 1
            if queue.qsize() < self._refill_at:
                self.poke.set()
            if self._d._clock.now() >= deadline:
                # Queued too long: its lease is running out and another worker may take it
                # (after the lease, `release_expired` makes it due again).
                log.warning(
                    "message %s not sent: its lease ran out while queued",
                    message.id,
                    extra={"action": "lease_lapsed"},
                )
                continue
            if paced and self._d._pace is not None:
                await self._d._pace.wait_turn(self.channel, message.text)
                if self._d._clock.now() >= deadline:
                    # Its turn came too late: the lease may be gone and another worker may
                    # send it. Sending it here as well would send it twice.
                    log.warning(
                        "message %s not sent: its lease ran out while it waited for its turn",
                        message.id,
                        extra={"action": "lease_lapsed"},
                    )
                    continue
                if await self._resolved_since(message):
                    if not self._outcomes:
                        self._oldest_outcome = time.monotonic()
                    self._open += 1  # an outcome to record, like a send's
                    self._outcomes.append(
                        Outcome(
                            message.id,
                            DeliveryStatus.SUPERSEDED,
                            reason="superseded by the resolution (while it waited for its turn)",
                        )
                    )
                    continue
            return message
        return None

    async def _resolved_since(self, message: ClaimedMessage) -> bool:
        """Whether the message's incident was resolved after it was planned. Asked only of
        paced lanes, whose messages wait for their turn after the claim; a database error
        counts as no (the message goes as it would have)."""
        if message.subject_type != "incident":
            return False
        try:
            async with self._d._engine.connect() as conn:
                return bool(await claims.resolved_since_planned(conn, [message.id]))
        except (SQLAlchemyError, OSError):
            return False

    async def _finish(self, unsent: list[int]) -> None:
        """Record the last outcomes and give back what was claimed but not sent."""
        for attempt in range(3):
            outcomes, self._outcomes = self._outcomes, []
            now = self._d._clock.now()
            try:
                async with self._d._engine.begin() as conn:
                    await self._d._record(conn, outcomes, now)
                    await claims.release(conn, worker=self._d._worker, ids=unsent, now=now)
                self._committed(len(outcomes))
                return
            except (SQLAlchemyError, OSError) as exc:
                self._keep(outcomes)
                log.warning(
                    "%s lane: cannot record the last outcomes (attempt %d): %s",
                    self.channel,
                    attempt + 1,
                    brief(exc),
                    extra={"action": "dispatch_db_error"},
                )
                await asyncio.sleep(RETRY_OUTAGE_AFTER)
