"""The row a fan-out writes for one customer, rule and channel: whether it goes now, waits
for quiet hours or a grouping window, stands by as a fallback copy, or is suppressed,
cancelled (min_gap) or failed (a template that cannot render), and with what text.

Pure decisions over what the fan-out read: no database access here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.config import Settings
from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.engine.occasions import Occasion
from notifier.engine.rules import Rule
from notifier.engine.slow_templates import SlowTemplates
from notifier.errors import NotifierError, TemplateError
from notifier.outbox.fallback import fallback_key
from notifier.templating.catalog import LiveCatalog
from notifier.templating.errors import TemplateTooSlow
from notifier.templating.sms_length import sms_segments


class RowBuilder:
    def __init__(
        self, *, templates: LiveCatalog, settings: Settings, slow: SlowTemplates | None = None
    ) -> None:
        self._templates = templates
        self._settings = settings
        self.slow = slow or SlowTemplates(settings)

    def rows(
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
            template = self._templates.current.resolve(rule.template, channel, customer.locale)
            paused = self.slow.paused(template)
            if paused is not None:
                row.update(status=DeliveryStatus.FAILED.value, reason=paused, next_attempt_at=None)
                return row
            rendered = template.render({**context, "customer": customer.as_context()})
            if channel is ChannelName.SMS:
                _check_sms(rendered.text, self._settings.sms.max_segments)
        except TemplateTooSlow as exc:
            self.slow.ran_out(
                template, exc, customer_id=customer.id, rule=rule, occasion=occasion, now=now
            )
            row.update(status=DeliveryStatus.FAILED.value, reason=str(exc), next_attempt_at=None)
            return row
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
    if quiet is None or (channel is ChannelName.EMAIL and not rule.quiet_hours_email):
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


def _check_sms(text: str, max_segments: int) -> None:
    length = sms_segments(text)
    if length.segments > max_segments:
        raise TemplateError(
            f"SMS is {length.segments} segments ({length.encoding}), over the limit of "
            f"{max_segments}"
        )
