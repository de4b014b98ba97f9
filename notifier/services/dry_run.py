"""What declaring an incident would do, without doing it: `incident declare --dry-run`.

The same validation as `services.incidents.declare`, the rules in force with their `when`
conditions on the context the planner would build, and the audience streamed with the
same opt-outs, so `Customer.can_receive` decides exactly as the fan-out will. Nothing is
written. A message a rule's quiet hours would hold until morning counts as sent.

The forecast (delivery/forecast.py) sizes SMS from one rendering per rule and locale (the
first customer of that locale stands for the others), puts what is already queued ahead
by priority, and says per channel when the last customer will have heard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.channels.registry import channel_class
from notifier.delivery.forecast import ChannelTiming, forecast_channel
from notifier.delivery.pacing import accounts, cost_of
from notifier.domain.customers import INCIDENTS, Customer
from notifier.domain.incidents import IncidentStatus, Severity
from notifier.domain.messages import ChannelName
from notifier.engine.context import Subject, base_context
from notifier.engine.followups import is_followup
from notifier.engine.rules import Rule
from notifier.errors import NotifierError, RuleError
from notifier.outbox.queries import waiting_by_priority
from notifier.services.incidents import new_incident
from notifier.services.running import Running
from notifier.services.service_catalog import check_affects
from notifier.store.customers import services_in_use, stream_affected

log = logging.getLogger(__name__)


@dataclass
class ChannelForecast:
    send: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    # priority -> [messages, units (SMS segments)] of what would be sent
    sizes: dict[int, list[int]] = field(default_factory=dict)
    timing: ChannelTiming | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "send": self.send,
            "suppressed": sum(self.suppressed.values()),
            "suppressed_by_reason": dict(sorted(self.suppressed.items())),
            "timing": None if self.timing is None else self.timing.as_json(),
        }


@dataclass
class DryRun:
    affected: int = 0
    rules: list[str] = field(default_factory=list)
    channels: dict[str, ChannelForecast] = field(
        default_factory=lambda: {c.value: ChannelForecast() for c in ChannelName}
    )
    operations: int = 0  # messages to operations (rules with audience "operations")
    # Services no customer depends on: most often a typo, which would tell nobody.
    unknown_services: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        found = [
            f"no customer depends on {name!r}: is it misspelt?" for name in self.unknown_services
        ]
        if self.affected == 0:
            found.append("no customer is affected: declaring tells no customer")
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "warnings": self.warnings,
            "affected": self.affected,
            "rules": self.rules,
            "channels": {name: c.as_json() for name, c in self.channels.items()},
            "operations": self.operations,
        }


def _matching(rules: Sequence[Rule], context: dict[str, Any]) -> list[Rule]:
    matched = []
    for rule in rules:
        try:
            if rule.when is None or rule.when(context):
                matched.append(rule)
        except RuleError as exc:  # the planner logs and skips such a rule too
            log.error("%s", exc, extra={"action": "rule_condition_error"})
    return matched


async def declare_dry_run(
    app: Running,
    *,
    title: str,
    severity: Severity | str,
    affects: Sequence[str],
    now: datetime,
    eta: datetime | None = None,
    workaround: str | None = None,
    message: str | None = None,
    next_update_by: datetime | None = None,
    translations: Mapping[str, Mapping[str, str | None]] | None = None,
) -> DryRun:
    incident = new_incident(
        translations=translations,
        title=title,
        severity=severity,
        affects=affects,
        now=now,
        eta=eta,
        workaround=workaround,
        message=message,
        next_update_by=next_update_by,
    )
    async with app.engine.connect() as conn:
        await check_affects(conn, incident.affects)
    subject = Subject(
        type="incident",
        id="0",
        is_open=True,
        variables={"incident": incident.as_context(), "update": None},
        incident=incident,
    )
    event = {
        "id": 0,
        "kind": "incident.declared",
        "from_status": None,
        "to_status": IncidentStatus.DECLARED.value,
        "payload": {"update_id": 0, "eta": incident.eta.isoformat() if incident.eta else None},
        "occurred_at": now,
    }
    context = base_context(subject, event, app.settings, app.clock)
    rules = app.rules.current.for_event("incident.declared")
    # Follow-ups (after/every) send nothing at declaration: they are armed for later.
    matched = [r for r in _matching(rules, context) if not is_followup(r)]
    result = DryRun(rules=[r.name for r in matched])
    if app.settings.operations_email:
        result.operations = sum(len(r.channels) for r in matched if r.audience == "operations")
    affected = [r for r in matched if r.audience == "affected"]
    sizes = _Sizes(app, context)
    async with app.engine.connect() as conn:
        in_use = await services_in_use(conn, incident.affects)
        result.unknown_services = [s for s in incident.affects if s not in in_use]
        pages = stream_affected(
            conn, incident.affects, app.settings.delivery.batch_size, category=INCIDENTS
        )
        async for page in pages:
            result.affected += len(page)
            for customer in page:
                for rule in affected:
                    for channel in rule.channels:
                        forecast = result.channels[channel.value]
                        via = channel_class(channel).address_field
                        allowed, why = customer.can_receive(channel, via)
                        if allowed:
                            forecast.send += 1
                            size = forecast.sizes.setdefault(rule.priority, [0, 0])
                            size[0] += 1
                            size[1] += sizes.cost(rule, channel, customer)
                        else:
                            reason = why or "suppressed"
                            forecast.suppressed[reason] = forecast.suppressed.get(reason, 0) + 1
        paced = accounts(app.settings)
        for channel in ChannelName:
            forecast = result.channels[channel.value]
            forecast.timing = forecast_channel(
                channel,
                groups={p: (m, u) for p, (m, u) in forecast.sizes.items()},
                ahead=await waiting_by_priority(conn, channel.value),
                account=paced.get(channel),
                start=now,
                eta=incident.eta,
            )
    return result


class _Sizes:
    """What a message costs its account (SMS: segments), rendered once per rule, channel
    and locale: the text differs by customer only in names and such."""

    def __init__(self, app: Running, context: dict[str, Any]) -> None:
        self._app = app
        self._context = context
        self._costs: dict[tuple[str, ChannelName, str], int] = {}

    def cost(self, rule: Rule, channel: ChannelName, customer: Customer) -> int:
        if channel is not ChannelName.SMS:
            return 1
        key = (rule.template, channel, customer.locale)
        if key not in self._costs:
            try:
                rendered = self._app.templates.current.render(
                    rule.template,
                    channel,
                    customer.locale,
                    {**self._context, "customer": customer.as_context()},
                )
                self._costs[key] = cost_of(channel, rendered.text)
            except NotifierError:  # the fan-out fails such a message: it costs nothing
                self._costs[key] = 0
        return self._costs[key]
