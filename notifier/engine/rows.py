"""The message a fan-out plans for one customer, rule and channel: whether it goes now, waits
for quiet hours or a grouping window, stands by as a fallback copy, or is suppressed,
cancelled (min_gap) or failed (a template that cannot render), and with what text.

Pure decisions over what the fan-out read: no database access here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.channels.registry import channel_class
from notifier.config import Settings
from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName, DeliveryStatus, RenderedMessage
from notifier.engine.localized import localized
from notifier.engine.occasions import Occasion
from notifier.engine.rules import Rule
from notifier.engine.slow_templates import SlowTemplates
from notifier.errors import NotifierError, TemplateError
from notifier.outbox.fallback import fallback_key
from notifier.outbox.planned import PlannedMessage
from notifier.templating.body_length import body_problem
from notifier.templating.catalog import LiveCatalog
from notifier.templating.errors import TemplateTooSlow


class MessageBuilder:
    def __init__(
        self, *, templates: LiveCatalog, settings: Settings, slow: SlowTemplates | None = None
    ) -> None:
        self._templates = templates
        self._settings = settings
        self.slow = slow or SlowTemplates(settings)

    def messages(
        self,
        occasion: Occasion,
        rule: Rule,
        customer: Customer,
        channel: ChannelName,
        context: dict[str, Any],
        now: datetime,
        recent: dict[str, datetime],
    ) -> list[PlannedMessage]:
        """The message for this channel, and its fallback copy when the rule names one."""
        primary = self._message(occasion, rule, customer, channel, context, now, recent)
        fallback = rule.fallback_channel
        if fallback is None or fallback in rule.channels:
            return [primary]
        status = primary.status
        if status is DeliveryStatus.SUPPRESSED:
            # No address, or the customer declined this channel: the message itself still
            # matters, so it goes the other way at once.
            copy = self._message(occasion, rule, customer, fallback, context, now, recent)
            if copy.status is DeliveryStatus.PENDING:
                copy = replace(copy, reason=f"fallback: {primary.reason}")
        elif status in (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED):
            copy = self._message(occasion, rule, customer, fallback, context, now, recent)
            if copy.status is DeliveryStatus.PENDING:
                copy = replace(copy, status=DeliveryStatus.STANDBY, next_attempt_at=None)
        else:
            return [primary]
        return [primary, replace(copy, key=fallback_key(primary.key))]

    def _message(
        self,
        occasion: Occasion,
        rule: Rule,
        customer: Customer,
        channel: ChannelName,
        context: dict[str, Any],
        now: datetime,
        recent: dict[str, datetime],
    ) -> PlannedMessage:
        kind = channel_class(channel)

        def planned(
            status: DeliveryStatus,
            next_attempt_at: datetime | None,
            reason: str | None = None,
            rendered: RenderedMessage | None = None,
        ) -> PlannedMessage:
            return PlannedMessage(
                key=f"{occasion.key_prefix}:{rule.name}:{customer.id}:{channel.value}",
                customer_id=customer.id,
                channel=channel,
                recipient=customer.address(kind.address_field),
                locale=customer.locale,
                rule=rule.name,
                template=rule.template,
                subject_type=occasion.subject_type,
                subject_id=occasion.subject_id,
                event_id=occasion.event_id,
                status=status,
                planned_at=now,
                next_attempt_at=next_attempt_at,
                reason=reason,
                subject=None if rendered is None else rendered.subject,
                text=None if rendered is None else rendered.text,
                html=None if rendered is None else rendered.html,
                priority=rule.priority,
                expires_at=None if rule.validity is None else now + rule.validity,
            )

        allowed, why = customer.can_receive(channel, kind.address_field)
        if not allowed:
            return planned(DeliveryStatus.SUPPRESSED, None, why)
        if customer.id in recent:
            gap = int((now - recent[customer.id]).total_seconds() // 60)
            return planned(
                DeliveryStatus.CANCELLED, None, f"min_gap: told about this {gap} min ago"
            )
        try:
            template = self._templates.current.resolve(rule.template, channel, customer.locale)
            paused = self.slow.paused(template)
            if paused is not None:
                return planned(DeliveryStatus.FAILED, None, paused)
            rendered = template.render(
                {
                    **localized(context, customer.locale, self._settings.default_locale),
                    "customer": customer.as_context(),
                }
            )
            problem = body_problem(
                rendered.text, kind.max_chars, kind.segment_limit(self._settings), kind.label
            )
            if problem is not None:
                raise TemplateError(problem)
        except TemplateTooSlow as exc:
            self.slow.ran_out(
                template, exc, customer_id=customer.id, rule=rule, occasion=occasion, now=now
            )
            return planned(DeliveryStatus.FAILED, None, str(exc))
        except NotifierError as exc:
            return planned(DeliveryStatus.FAILED, None, str(exc))
        resume = _quiet_until(rule, channel, customer, context, now)
        if self._groups(rule, context):
            # Grouped or not, quiet hours hold it: the group leaves when both the window
            # and the night are over (the reason says which held it).
            window_closes = now + self._settings.grouping.window
            if resume is not None and resume > window_closes:
                why = f"quiet hours {rule.quiet_hours} in {customer.timezone}"
                return planned(DeliveryStatus.GROUPING, resume, why, rendered)
            return planned(DeliveryStatus.GROUPING, window_closes, rendered=rendered)
        if resume is not None:
            why = f"quiet hours {rule.quiet_hours} in {customer.timezone}"
            return planned(DeliveryStatus.DEFERRED, resume, why, rendered)
        return planned(DeliveryStatus.PENDING, now, rendered=rendered)

    def _groups(self, rule: Rule, context: dict[str, Any]) -> bool:
        """Whether this message waits to go out together with the customer's others."""
        window = self._settings.grouping.window
        return rule.group and window.total_seconds() > 0 and not is_critical(context)


def is_critical(context: dict[str, Any]) -> bool:
    return bool((context.get("incident") or {}).get("severity") == "critical")


def _quiet_until(
    rule: Rule, channel: ChannelName, customer: Customer, context: dict[str, Any], now: datetime
) -> datetime | None:
    """When a message held by the customer's quiet hours may go, or None to send now."""
    quiet = rule.quiet_hours
    if quiet is None or (not channel_class(channel).intrusive and not rule.quiet_hours_email):
        return None
    if rule.critical_overrides_quiet_hours and is_critical(context):
        return None
    try:
        zone = ZoneInfo(customer.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    if not quiet.contains(local.timetz().replace(tzinfo=None)):
        return None
    return quiet.end_after(local).astimezone(now.tzinfo)

