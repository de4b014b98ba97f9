"""Templates paused at send time because they ran out of time for real customers.

Lint and saving try a template on samples and a few real customers, but real data is
larger than any handful: a template may still hit the render time limit at send time. Each
such render holds the fan-out (and the event loop it shares with sending) for the whole
limit, and fails. So after `PAUSE_AFTER` renders of one template ran out of time, this
process stops rendering it: the rest of its messages fail at once, with a reason that says
so, and operations get one email about it (one outbox row whose key names the template and
its version, so that every worker and every re-planning adds it once). A new version of the
template (a reload of the catalog) is tried again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from notifier.config import Settings
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.engine.occasions import Occasion
from notifier.engine.rules import Rule
from notifier.outbox.planned import PlannedMessage
from notifier.templating.compiled import CompiledTemplate
from notifier.templating.errors import TemplateTooSlow

log = logging.getLogger(__name__)

PAUSE_AFTER = 2  # renders out of time before a template is paused (one may be a stall)
OPERATIONS_ID = "operations"  # engine.fanout's customer id for messages to operations


@dataclass
class _Record:
    slow: int = 0
    customers: list[str] = field(default_factory=list)
    reason: str | None = None  # set once paused


class SlowTemplates:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Keyed by the compiled template itself: a new version is a new object, tried anew
        # (and the old one kept alive by the key, so its identity is never reused).
        self._seen: dict[CompiledTemplate, _Record] = {}
        self.alerts: list[PlannedMessage] = []  # for operations, taken by the fan-out

    def paused(self, template: CompiledTemplate) -> str | None:
        """Why this template is not rendered any more, or None if it is."""
        record = self._seen.get(template)
        return record.reason if record is not None else None

    def ran_out(
        self,
        template: CompiledTemplate,
        error: TemplateTooSlow,
        *,
        customer_id: str,
        rule: Rule,
        occasion: Occasion,
        now: datetime,
    ) -> None:
        """A render of `template` ran out of time; pause it after `PAUSE_AFTER` of them."""
        record = self._seen.setdefault(template, _Record())
        record.slow += 1
        record.customers.append(customer_id)
        if record.slow < PAUSE_AFTER or record.reason is not None:
            return
        path = template.key.path
        record.reason = (
            f"not rendered: template {path} is paused, its renders ran out of time for "
            f"customers {', '.join(record.customers)} ({error.reason})"
        )
        log.error(
            "template %s paused for rule %s: %s",
            path,
            rule.name,
            error.reason,
            extra={"action": "template_paused"},
        )
        if self._settings.operations_email:
            self.alerts.append(self._alert(template, rule, occasion, record, error, now))

    def take_alerts(self) -> list[PlannedMessage]:
        alerts, self.alerts = self.alerts, []
        return alerts

    def _alert(
        self,
        template: CompiledTemplate,
        rule: Rule,
        occasion: Occasion,
        record: _Record,
        error: TemplateTooSlow,
        now: datetime,
    ) -> PlannedMessage:
        path = template.key.path
        version = hashlib.sha256(template.source.encode()).hexdigest()[:12]
        text = (
            f"The template {path} was paused while sending rule {rule.name}: rendering it "
            f"ran out of time ({error.reason}) for customers {', '.join(record.customers)}.\n\n"
            f"The rest of this rule's messages that use it are not sent; they are marked "
            f"failed with the reason 'template {path} is paused'. Fix the template (it must "
            f"render well under the limit for every customer: check it with `notifier "
            f"templates lint`), then send the news again.\n"
        )
        return PlannedMessage(
            key=f"template-paused:{path}:{version}",
            customer_id=OPERATIONS_ID,
            channel=ChannelName.EMAIL,
            recipient=self._settings.operations_email,
            locale=self._settings.default_locale,
            rule=rule.name,
            template=rule.template,
            subject_type=occasion.subject_type,
            subject_id=occasion.subject_id,
            event_id=occasion.event_id,
            status=DeliveryStatus.PENDING,
            planned_at=now,
            next_attempt_at=now,
            reason=f"template {path} paused",
            subject=f"Template {path} paused: too slow for real customers",
            text=text,
        )
