"""Apply the rules to an event: who is told what, on which channel, written to the outbox.

The audience is streamed in pages; each page is rendered and written in one transaction with
keys that make a second planning of the same event insert nothing. The event is marked
planned only after its last page, so a crash anywhere means the event is planned again,
completing what was missing without doubling what was there.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.customers import Customer
from notifier.domain.events import Event
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.engine.rules import LiveRules, Rule
from notifier.errors import NotifierError, RuleError, TemplateError
from notifier.store import customers as customer_store
from notifier.store import events as event_store
from notifier.store import incidents as incident_store
from notifier.store import outbox as outbox_store
from notifier.templating.catalog import LiveCatalog
from notifier.templating.sms_length import sms_segments

log = logging.getLogger(__name__)

OPERATIONS_ID = "operations"


@dataclass
class PlanStats:
    events: int = 0
    planned: int = 0
    suppressed: int = 0
    failed: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


class Planner:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        rules: LiveRules,
        templates: LiveCatalog,
        settings: Settings,
        clock: Clock,
        worker_id: str,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._templates = templates
        self._settings = settings
        self._clock = clock
        self._worker = worker_id
        self._lease = timedelta(seconds=settings.delivery.lease_seconds)

    async def plan_pending(self, limit: int = 10) -> PlanStats:
        """Claim events not yet planned and plan them, oldest first."""
        stats = PlanStats()
        async with self._engine.begin() as conn:
            claimed = await event_store.claim_unplanned(
                conn, worker=self._worker, now=self._clock.now(), lease=self._lease, limit=limit
            )
        for event in claimed:
            await self.plan(event, stats)
        return stats

    async def plan(self, event: Event, stats: PlanStats | None = None) -> PlanStats:
        stats = stats or PlanStats()
        context = await self._base_context(event)
        for rule in self._rules.current.for_event(event.kind):
            try:
                if rule.when is not None and not rule.when(context):
                    continue
            except RuleError as exc:
                # A condition that fails at run time must be visible, not silently "false".
                log.error("%s", exc, extra={"action": "rule_condition_error"})
                continue
            if rule.after is not None or rule.every is not None:
                continue  # follow-ups are planned by the scheduler
            await self._fan_out(event, rule, context, stats)
        async with self._engine.begin() as conn:
            await event_store.mark_planned(conn, event.id, self._clock.now())
        stats.events += 1
        return stats

    async def _base_context(self, event: Event) -> dict[str, Any]:
        context: dict[str, Any] = {
            "event": event.as_context(),
            "company": self._settings.company.model_dump(),
            "now": self._clock.now(),
            "incident": None,
            "update": None,
            "order": None,
        }
        if event.subject_type == "incident":
            async with self._engine.connect() as conn:
                incident = await incident_store.get_incident(conn, int(event.subject_id))
                update_id = event.payload.get("update_id")
                update = (
                    await incident_store.get_update(conn, int(update_id))
                    if update_id is not None
                    else None
                )
            context["incident"] = incident.as_context()
            context["update"] = update.as_context() if update is not None else None
        return context

    async def _pages(
        self, rule: Rule, context: dict[str, Any]
    ) -> AsyncIterator[tuple[AsyncConnection, list[Customer]]]:
        """Each page of the audience, with the open transaction it was read in.

        One short transaction per page reads the customers and writes their messages: a
        transaction held open across the whole audience would block every other writer on
        SQLite, and pin an old snapshot on PostgreSQL.
        """
        if rule.audience == "operations":
            if self._settings.operations_email:
                async with self._engine.begin() as conn:
                    yield conn, [self._operations()]
            return
        if rule.audience != "affected" or context["incident"] is None:
            return
        services = context["incident"]["affects"]
        size = self._settings.delivery.batch_size
        after: str | None = None
        while True:
            async with self._engine.begin() as conn:
                page = await customer_store.affected_page(conn, services, after, size)
                if page:
                    yield conn, page
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

    async def _fan_out(
        self, event: Event, rule: Rule, context: dict[str, Any], stats: PlanStats
    ) -> None:
        # aclosing: if this loop raises, the page's transaction is rolled back now, not
        # whenever the generator happens to be collected.
        async with aclosing(self._pages(rule, context)) as pages:
            async for conn, page in pages:
                now = self._clock.now()
                rows = [
                    self._row(event, rule, customer, channel, context, now)
                    for customer in page
                    for channel in rule.channels
                ]
                await outbox_store.supersede(
                    conn,
                    subject_type=event.subject_type,
                    subject_id=event.subject_id,
                    customer_ids=[c.id for c in page],
                    before_event_id=event.id,
                    now=now,
                )
                await outbox_store.enqueue(conn, rows)
                _count(rows, rule, stats)

    def _row(
        self,
        event: Event,
        rule: Rule,
        customer: Customer,
        channel: ChannelName,
        context: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "idempotency_key": f"e{event.id}:{rule.name}:{customer.id}:{channel.value}",
            "event_id": event.id,
            "rule": rule.name,
            "template": rule.template,
            "customer_id": customer.id,
            "subject_type": event.subject_type,
            "subject_id": event.subject_id,
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
        return row


def _count(rows: Sequence[dict[str, Any]], rule: Rule, stats: PlanStats) -> None:
    for row in rows:
        status = row["status"]
        if status == DeliveryStatus.SUPPRESSED.value:
            stats.suppressed += 1
        elif status == DeliveryStatus.FAILED.value:
            stats.failed += 1
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


def channels_of(rules: Sequence[Rule]) -> set[ChannelName]:
    return {channel for rule in rules for channel in rule.channels}
