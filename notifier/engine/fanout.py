"""Fan-out: one rule, one subject, its audience in pages, a row per customer and channel.

Used for an event's immediate messages and for each firing of a follow-up alike. Keys make
a repeated fan-out insert nothing.

A pass over the audience is a pipeline, page by page: while page n is written (one short
transaction), page n+1 is read (another) and rendered (no transaction: on SQLite a write
transaction would stop every other writer, the dispatcher's claims included, for as long
as the rendering takes). Rules of one event that share an audience share one pass, so the
first page of every channel is ready at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock, utc
from notifier.config import Settings
from notifier.domain.customers import INCIDENTS, ORDERS, Customer
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.engine.rules import Rule
from notifier.errors import NotifierError, TemplateError
from notifier.outbox.fallback import fallback_key
from notifier.store import customers as customer_store
from notifier.store import outbox as outbox_store
from notifier.store.tables import outbox
from notifier.templating.catalog import LiveCatalog
from notifier.templating.sms_length import sms_segments

OPERATIONS_ID = "operations"
# Customers rendered between two yields to the event loop: the channels' sends in the same
# process keep moving while a page renders.
_YIELD_EVERY = 16
# Messages that count as "told" for min_gap: what went out or is about to.
_TOLD = [
    DeliveryStatus.PENDING.value,
    DeliveryStatus.SENDING.value,
    DeliveryStatus.SENT.value,
    DeliveryStatus.DELIVERED.value,
    DeliveryStatus.DEFERRED.value,
]


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


@dataclass(frozen=True, slots=True)
class Occasion:
    """Why a fan-out happens: an event's messages, or one firing of a follow-up."""

    key_prefix: str  # "e42" for event 42, "s7" for schedule 7
    event_id: int | None
    subject_type: str
    subject_id: str
    # An event's news replaces every older message still waiting; a follow-up replaces only
    # its own rule's earlier ones.
    is_followup: bool = False


class FanOut:
    def __init__(
        self, engine: AsyncEngine, *, templates: LiveCatalog, settings: Settings, clock: Clock
    ) -> None:
        self._engine = engine
        self._templates = templates
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
                    rows: list[tuple[Rule, list[dict[str, Any]]]] = []
                    rendered = 0
                    for rule in rules:
                        told = recent.get(rule.name, {})
                        rule_rows: list[dict[str, Any]] = []
                        for customer in page:
                            for channel in rule.channels:
                                rule_rows += self._rows(
                                    occasion, rule, customer, channel, context, now, told
                                )
                            rendered += 1
                            if rendered % _YIELD_EVERY == 0:
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
                            join_groups=not _critical(context),
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
        rows: list[tuple[Rule, list[dict[str, Any]]]],
        now: datetime,
        stats: PlanStats,
        *,
        join_groups: bool = True,
    ) -> None:
        """One page's messages, rule after rule, in one transaction."""
        superseded: list[dict[str, Any]] = []
        async with self._engine.begin() as conn:
            for rule, rule_rows in rows:
                superseding = _superseding(occasion, rule)
                if superseding not in superseded:  # one event's rules all supersede alike
                    superseded.append(superseding)
                    await outbox_store.supersede(
                        conn,
                        subject_type=occasion.subject_type,
                        subject_id=occasion.subject_id,
                        customer_ids=customer_ids,
                        now=now,
                        **superseding,
                    )
                await outbox_store.enqueue(conn, rule_rows)
            if join_groups:
                await _join_waiting_groups(conn, customer_ids, rows, now)
        for rule, rule_rows in rows:
            _count(rule_rows, rule, stats)
        if self.on_commit is not None:
            ready = frozenset(
                row["channel"]
                for _rule, rule_rows in rows
                for row in rule_rows
                if row["status"] == DeliveryStatus.PENDING.value
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
                async with self._engine.connect() as conn:
                    customer = await customer_store.find_customer(
                        conn, order["customer_id"], category=ORDERS
                    )
                if customer is not None:
                    yield [customer]
            return
        if rule.audience != "affected" or context.get("incident") is None:
            return
        services = context["incident"]["affects"]
        size = self._settings.delivery.batch_size
        after: str | None = None
        while True:
            async with self._engine.begin() as conn:
                # Only incidents have an "affected" audience: their opt-outs apply.
                page = await customer_store.affected_page(
                    conn, services, after, size, category=INCIDENTS
                )
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1].id

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

    def _groups(self, rule: Rule, context: dict[str, Any]) -> bool:
        """Whether this message waits to go out together with the customer's others."""
        window = self._settings.grouping.window
        return rule.group and window.total_seconds() > 0 and not _critical(context)

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
        last = func.max(func.coalesce(outbox.c.sent_at, outbox.c.created_at))
        query = (
            select(outbox.c.customer_id, last)
            .where(
                outbox.c.subject_type == occasion.subject_type,
                outbox.c.subject_id == occasion.subject_id,
                outbox.c.customer_id.in_([c.id for c in page]),
                outbox.c.status.in_(_TOLD),
            )
            .group_by(outbox.c.customer_id)
        )
        since = now - rule.min_gap
        return {
            cid: utc(when)
            for cid, when in (await conn.execute(query)).all()
            if when is not None and utc(when) > since
        }

    def _rows(
        self,
        occasion: Occasion,
        rule: Rule,
        customer: Customer,
        channel: ChannelName,
        context: dict[str, Any],
        now: datetime,
        recent: dict[str, datetime],
    ) -> list[dict[str, Any]]:
        """The message for this channel, and its fallback copy when the rule names one."""
        primary = self._row(occasion, rule, customer, channel, context, now, recent)
        fallback = rule.fallback_channel
        if fallback is None or fallback in rule.channels:
            return [primary]
        status = primary["status"]
        if status == DeliveryStatus.SUPPRESSED.value:
            # No address, or the customer declined this channel: the message itself still
            # matters, so it goes the other way at once.
            copy = self._row(occasion, rule, customer, fallback, context, now, recent)
            if copy["status"] == DeliveryStatus.PENDING.value:
                copy["reason"] = f"fallback: {primary['reason']}"
        elif status in (DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value):
            copy = self._row(occasion, rule, customer, fallback, context, now, recent)
            if copy["status"] == DeliveryStatus.PENDING.value:
                copy.update(status=DeliveryStatus.STANDBY.value, next_attempt_at=None)
        else:
            return [primary]
        copy["idempotency_key"] = fallback_key(primary["idempotency_key"])
        return [primary, copy]

    def _row(
        self,
        occasion: Occasion,
        rule: Rule,
        customer: Customer,
        channel: ChannelName,
        context: dict[str, Any],
        now: datetime,
        recent: dict[str, datetime],
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "idempotency_key": f"{occasion.key_prefix}:{rule.name}:{customer.id}:{channel.value}",
            "event_id": occasion.event_id,
            "rule": rule.name,
            "template": rule.template,
            "customer_id": customer.id,
            "subject_type": occasion.subject_type,
            "subject_id": occasion.subject_id,
            "channel": channel.value,
            "recipient": customer.email if channel is ChannelName.EMAIL else customer.phone,
            "locale": customer.locale,
            "status": DeliveryStatus.PENDING.value,
            "reason": None,
            "subject": None,
            "body_text": None,
            "body_html": None,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        allowed, why = customer.can_receive(channel)
        if not allowed:
            row.update(status=DeliveryStatus.SUPPRESSED.value, reason=why, next_attempt_at=None)
            return row
        if customer.id in recent:
            gap = int((now - recent[customer.id]).total_seconds() // 60)
            row.update(
                status=DeliveryStatus.CANCELLED.value,
                reason=f"min_gap: told about this {gap} min ago",
                next_attempt_at=None,
            )
            return row
        try:
            rendered = self._templates.current.render(
                rule.template,
                channel,
                customer.locale,
                {**context, "customer": customer.as_context()},
            )
            if channel is ChannelName.SMS:
                _check_sms(rendered.text, self._settings.sms.max_segments)
        except NotifierError as exc:
            row.update(status=DeliveryStatus.FAILED.value, reason=str(exc), next_attempt_at=None)
            return row
        row.update(subject=rendered.subject, body_text=rendered.text, body_html=rendered.html)
        if self._groups(rule, context):
            row.update(
                status=DeliveryStatus.GROUPING.value,
                next_attempt_at=now + self._settings.grouping.window,
            )
            return row
        resume = _quiet_until(rule, channel, customer, context, now)
        if resume is not None:
            row.update(
                status=DeliveryStatus.DEFERRED.value,
                reason=f"quiet hours {rule.quiet_hours} in {customer.timezone}",
                next_attempt_at=resume,
            )
        return row


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


async def _join_waiting_groups(
    conn: AsyncConnection,
    customer_ids: list[str],
    rows: list[tuple[Rule, list[dict[str, Any]]]],
    now: datetime,
) -> None:
    """One customer, one voice: a message that would go now to a customer who already has
    grouped messages waiting on that channel joins them, and the group leaves at once as
    one message (the grouper's next flush). Reads only `grouping` rows: nothing to read in
    the common case."""
    waiting = {
        (r.customer_id, r.channel)
        for r in (
            await conn.execute(
                select(outbox.c.customer_id, outbox.c.channel)
                .where(
                    outbox.c.status == DeliveryStatus.GROUPING.value,
                    outbox.c.customer_id.in_(customer_ids),
                )
                .distinct()
            )
        ).all()
    }
    if not waiting:
        return
    joining = [
        row
        for _rule, rule_rows in rows
        for row in rule_rows
        if row["status"] == DeliveryStatus.PENDING.value
        and (row["customer_id"], row["channel"]) in waiting
    ]
    keys = [row["idempotency_key"] for row in joining]
    if keys:
        await conn.execute(
            update(outbox)
            .where(
                outbox.c.idempotency_key.in_(keys),
                outbox.c.status == DeliveryStatus.PENDING.value,
            )
            .values(status=DeliveryStatus.GROUPING.value, next_attempt_at=now, updated_at=now)
        )
        # Everything the customer has waiting on that channel goes now, together.
        for customer_id, channel in {(row["customer_id"], row["channel"]) for row in joining}:
            await conn.execute(
                update(outbox)
                .where(
                    outbox.c.status == DeliveryStatus.GROUPING.value,
                    outbox.c.customer_id == customer_id,
                    outbox.c.channel == channel,
                )
                .values(next_attempt_at=now)
            )


def _critical(context: dict[str, Any]) -> bool:
    return bool((context.get("incident") or {}).get("severity") == "critical")


def _superseding(occasion: Occasion, rule: Rule) -> dict[str, Any]:
    if occasion.is_followup:
        return {"rule": rule.name, "by": f"a later {rule.name} follow-up"}
    return {"before_event_id": occasion.event_id, "by": f"event {occasion.event_id}"}


def _quiet_until(
    rule: Rule, channel: ChannelName, customer: Customer, context: dict[str, Any], now: datetime
) -> datetime | None:
    """When a message held by the customer's quiet hours may go, or None to send now."""
    quiet = rule.quiet_hours
    if quiet is None or (channel is ChannelName.EMAIL and not rule.quiet_hours_email):
        return None
    if rule.critical_overrides_quiet_hours and _critical(context):
        return None
    try:
        zone = ZoneInfo(customer.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    if not quiet.contains(local.timetz().replace(tzinfo=None)):
        return None
    return quiet.end_after(local).astimezone(now.tzinfo)


def _count(rows: Sequence[dict[str, Any]], rule: Rule, stats: PlanStats) -> None:
    for row in rows:
        status = row["status"]
        if status == DeliveryStatus.SUPPRESSED.value:
            stats.suppressed += 1
        elif status == DeliveryStatus.FAILED.value:
            stats.failed += 1
        elif status == DeliveryStatus.DEFERRED.value:
            stats.deferred += 1
        elif status == DeliveryStatus.CANCELLED.value:
            stats.skipped += 1
        else:
            stats.planned += 1
    stats.by_rule[rule.name] = stats.by_rule.get(rule.name, 0) + len(rows)


def _check_sms(text: str, max_segments: int) -> None:
    length = sms_segments(text)
    if length.segments > max_segments:
        raise TemplateError(
            f"SMS is {length.segments} segments ({length.encoding}), over the limit of "
            f"{max_segments}"
        )
