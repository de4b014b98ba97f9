"""Fan-out: one rule, one subject, its audience in pages, a row per customer and channel.

Used for an event's immediate messages and for each firing of a follow-up alike. Keys make
a repeated fan-out insert nothing.

A pass over the audience is a pipeline, page by page: while page n is written (one short
transaction), page n+1 is read (another) and rendered (no transaction: on SQLite a write
transaction would stop every other writer, the dispatcher's claims included, for as long
as the rendering takes). Rules of one event that share an audience share one pass, so the
first page of every channel is ready at once. What each row says and when it goes is
decided in `engine.rows`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock, utc
from notifier.config import Settings
from notifier.domain.customers import INCIDENTS, ORDERS, Customer
from notifier.domain.messages import DeliveryStatus
from notifier.engine.occasions import Occasion
from notifier.engine.rows import MessageBuilder, is_critical
from notifier.engine.rules import Rule
from notifier.engine.slow_templates import SlowTemplates
from notifier.outbox import grouping
from notifier.outbox import queries as outbox_queries
from notifier.outbox.enqueue import enqueue
from notifier.outbox.planned import PlannedMessage
from notifier.outbox.supersede import supersede
from notifier.store import customers as customer_store
from notifier.store.db import reads
from notifier.templating.catalog import LiveCatalog

OPERATIONS_ID = "operations"
FIRST_PAGE = 50  # customers in an audience's first page (then 100, 200, ... the batch size)

# A new message that will really go out, and so may replace what waits on its channel.
_GOING = frozenset({DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.GROUPING})


@dataclass
class PlanStats:
    events: int = 0
    planned: int = 0
    deferred: int = 0
    suppressed: int = 0
    failed: int = 0
    skipped: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, other: PlanStats) -> None:
        self.events += other.events
        self.planned += other.planned
        self.deferred += other.deferred
        self.suppressed += other.suppressed
        self.failed += other.failed
        self.skipped += other.skipped
        for rule, n in other.by_rule.items():
            self.by_rule[rule] = self.by_rule.get(rule, 0) + n


class FanOut:
    def __init__(
        self, engine: AsyncEngine, *, templates: LiveCatalog, settings: Settings, clock: Clock
    ) -> None:
        self._engine = engine
        # Templates paused for running out of time, and the alerts to operations about them.
        self._slow = SlowTemplates(settings)
        self._messages = MessageBuilder(templates=templates, settings=settings, slow=self._slow)
        self._settings = settings
        self._clock = clock
        # Called after each page is committed with the channels it gave messages to send now
        # (the worker wakes those lanes of its dispatcher).
        self.on_commit: Callable[[frozenset[str]], None] | None = None

    async def run(
        self, occasion: Occasion, rule: Rule, context: dict[str, Any], stats: PlanStats
    ) -> None:
        await self.run_rules(occasion, [rule], context, stats)

    async def run_rules(
        self,
        occasion: Occasion,
        rules: Sequence[Rule],
        context: dict[str, Any],
        stats: PlanStats,
    ) -> None:
        """Fan out `rules`, in order, with as few passes over the audience as gives the
        same messages as one pass per rule."""
        for group in _passes(rules):
            await self._pass(occasion, group, context, stats)

    async def _pass(
        self, occasion: Occasion, rules: Sequence[Rule], context: dict[str, Any], stats: PlanStats
    ) -> None:
        writing: asyncio.Task[None] | None = None
        try:
            # aclosing: if this loop raises, the generator is closed now, not whenever it
            # happens to be collected.
            async with aclosing(self._pages(rules[0], context)) as pages:
                async for page in pages:
                    now = self._clock.now()
                    recent = await self._recent(occasion, rules, page, now)
                    rows: list[tuple[Rule, list[PlannedMessage]]] = []
                    for rule in rules:
                        told = recent.get(rule.name, {})
                        rule_rows: list[PlannedMessage] = []
                        for customer in page:
                            for channel in rule.channels:
                                rule_rows += self._messages.messages(
                                    occasion, rule, customer, channel, context, now, told
                                )
                            # Back to the loop after each customer, so the sends in
                            # this process (an SMTP exchange is four round trips) are
                            # served within a render, not after 16 of them: email end to
                            # end went from 0.65 to 0.74-0.77 of the library's limit.
                            await asyncio.sleep(0)
                        rows.append((rule, rule_rows))
                    if writing is not None:
                        await writing  # pages are written in order, one at a time
                    writing = asyncio.create_task(
                        self._write(
                            occasion,
                            [c.id for c in page],
                            rows,
                            now,
                            stats,
                            join_groups=not is_critical(context),
                            alerts=self._slow.take_alerts(),
                        )
                    )
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                # Failing elsewhere: let the page being written finish or fail on its own
                # (its transaction commits or rolls back whole; replanning is idempotent).
                with contextlib.suppress(Exception):
                    await writing
            elif writing is not None and not writing.cancelled():
                # It may have failed too (the same outage): its error is taken here, or
                # asyncio would log it later as "never retrieved", with a traceback.
                writing.exception()

    async def _recent(
        self, occasion: Occasion, rules: Sequence[Rule], page: Sequence[Customer], now: datetime
    ) -> dict[str, dict[str, datetime]]:
        """For each rule with a min_gap, the customers of the page told too recently."""
        if all(rule.min_gap is None for rule in rules):
            return {}
        async with self._engine.connect() as conn:
            return {
                rule.name: await self._recently_told(conn, occasion, rule, page, now)
                for rule in rules
                if rule.min_gap is not None
            }

    async def _write(
        self,
        occasion: Occasion,
        customer_ids: list[str],
        rows: list[tuple[Rule, list[PlannedMessage]]],
        now: datetime,
        stats: PlanStats,
        *,
        join_groups: bool = True,
        alerts: Sequence[PlannedMessage] = (),
    ) -> None:
        """One page's messages, rule after rule, in one transaction (with the alerts to
        operations that planning them raised)."""
        async with self._engine.begin() as conn:
            for superseding, channel, replaced in _replacing(occasion, rows):
                await supersede(
                    conn,
                    subject_type=occasion.subject_type,
                    subject_id=occasion.subject_id,
                    customer_ids=replaced,
                    channel=channel,
                    now=now,
                    **superseding,
                )
            for _rule, rule_rows in rows:
                await enqueue(conn, rule_rows)
            if join_groups:
                await grouping.join_waiting(
                    conn,
                    customer_ids,
                    [row for _rule, rule_rows in rows for row in rule_rows],
                    now,
                )
            if alerts:
                await enqueue(conn, list(alerts))
        for rule, rule_rows in rows:
            _count(rule_rows, rule, stats)
        if self.on_commit is not None:
            ready = frozenset(
                message.channel.value
                for messages in [*(m for _rule, m in rows), alerts]
                for message in messages
                if message.status is DeliveryStatus.PENDING
            )
            if ready:
                self.on_commit(ready)

    async def _pages(
        self, rule: Rule, context: dict[str, Any]
    ) -> AsyncGenerator[list[Customer], None]:
        """Each page of the audience, read in a short transaction of its own.

        A transaction held open across the whole audience would block every other writer
        on SQLite, and pin an old snapshot on PostgreSQL.
        """
        if rule.audience == "operations":
            if self._settings.operations_email:
                yield [self._operations()]
            return
        if rule.audience == "customer":
            order = context.get("order")
            if order is not None:
                async with reads(self._engine) as conn:
                    customer = await customer_store.find_customer(
                        conn, order["customer_id"], category=ORDERS
                    )
                if customer is not None:
                    yield [customer]
            return
        # Those who depend on the services an incident or a maintenance affects.
        subject = context.get("incident") or context.get("maintenance")
        if rule.audience != "affected" or subject is None:
            return
        services = subject["affects"]
        # The first pages are small and grow to the batch size: the first customers are
        # told while the rest of the audience is still being read and rendered.
        full = self._settings.delivery.batch_size
        size = min(FIRST_PAGE, full)
        after: str | None = None
        while True:
            # A read: on SQLite a write transaction here would queue for the write lock
            # behind the dispatcher's claims (and hold them up while reading).
            async with reads(self._engine) as conn:
                # Only incidents have an "affected" audience: their opt-outs apply.
                page = await customer_store.affected_page(
                    conn, services, after, size, category=INCIDENTS
                )
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1].id
            size = min(size * 2, full)

    def _operations(self) -> Customer:
        return Customer(
            id=OPERATIONS_ID,
            name="Operations",
            email=self._settings.operations_email,
            phone=None,
            locale=self._settings.default_locale,
            timezone=self._settings.default_timezone,
            services=frozenset(),
            opt_outs=frozenset(),
        )

    async def _recently_told(
        self,
        conn: AsyncConnection,
        occasion: Occasion,
        rule: Rule,
        page: Sequence[Customer],
        now: datetime,
    ) -> dict[str, datetime]:
        """Customers of this page told about the subject within the rule's min_gap."""
        if rule.min_gap is None:
            return {}
        told = await outbox_queries.last_told(
            conn,
            subject_type=occasion.subject_type,
            subject_id=occasion.subject_id,
            customer_ids=[c.id for c in page],
        )
        since = now - rule.min_gap
        return {
            cid: utc(when) for cid, when in told.items() if when is not None and utc(when) > since
        }


def _passes(rules: Sequence[Rule]) -> list[list[Rule]]:
    """Consecutive rules with one audience share a pass; a rule with a min_gap takes its own,
    after the rules before it are written, as it must see what they planned."""
    passes: list[list[Rule]] = []
    for rule in rules:
        last = passes[-1] if passes else None
        if (
            last is not None
            and rule.min_gap is None
            and last[0].min_gap is None
            and last[0].audience == rule.audience
        ):
            last.append(rule)
        else:
            passes.append([rule])
    return passes


def _replacing(
    occasion: Occasion, rows: Sequence[tuple[Rule, Sequence[PlannedMessage]]]
) -> list[tuple[dict[str, Any], str, list[str]]]:
    """What the page's new messages replace: per way of superseding and channel, the
    customers who get one that will really go (not suppressed, failed or skipped). A
    customer who gets nothing new on a channel keeps what waits for them there."""
    found: dict[tuple[tuple[tuple[str, Any], ...], str], dict[str, None]] = {}
    for rule, rule_rows in rows:
        # One event's rules all supersede alike; a follow-up only its own rule's.
        key = tuple(sorted(_superseding(occasion, rule).items()))
        for message in rule_rows:
            if message.status in _GOING:
                found.setdefault((key, message.channel.value), {})[message.customer_id] = None
    return [(dict(key), channel, list(ids)) for (key, channel), ids in found.items()]


def _superseding(occasion: Occasion, rule: Rule) -> dict[str, Any]:
    if occasion.is_followup:
        return {"rule": rule.name, "by": f"a later {rule.name} follow-up"}
    return {"before_event_id": occasion.event_id, "by": f"event {occasion.event_id}"}


def _count(messages: Sequence[PlannedMessage], rule: Rule, stats: PlanStats) -> None:
    for message in messages:
        status = message.status
        if status is DeliveryStatus.SUPPRESSED:
            stats.suppressed += 1
        elif status is DeliveryStatus.FAILED:
            stats.failed += 1
        elif status is DeliveryStatus.DEFERRED:
            stats.deferred += 1
        elif status is DeliveryStatus.CANCELLED:
            stats.skipped += 1
        else:
            stats.planned += 1
    stats.by_rule[rule.name] = stats.by_rule.get(rule.name, 0) + len(messages)
