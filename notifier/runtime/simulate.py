"""`notifier rules simulate`: what a rule set would send, over a scenario, in virtual time.

The real engine runs: the rules and templates in force, real planning, fan-out, follow-ups,
the watchdog and quiet hours, on a throwaway SQLite database, with in-memory channels and
a virtual clock. Nothing touches the configured database or any real channel.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.channels.base import RecordingChannel
from notifier.clock import VirtualClock
from notifier.config import DatabaseSettings, Settings
from notifier.domain.messages import ChannelName
from notifier.engine.scenario import Declare, OrderEvent, Resolve, Scenario, Update, load_scenario
from notifier.errors import InputError, InvalidTransition, NotFound, ScenarioError
from notifier.outbox import queries as outbox_queries
from notifier.runtime.app import App
from notifier.runtime.simulation import advance_to
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.services.customers import import_customers, import_rows
from notifier.services.orders import record_order_event


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    time: datetime
    customer: str
    channel: str
    rule: str
    template: str
    summary: str
    # The whole text, for checks over what customers read; the printed line stays short.
    text: str = field(default="", repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "customer": self.customer,
            "channel": self.channel,
            "rule": self.rule,
            "template": self.template,
            "summary": self.summary,
        }


def read_scenario(path: Path) -> Scenario:
    """The scenario file at `path`; ScenarioError says what is wrong and where."""
    return load_scenario(path)


async def simulate(settings: Settings, scenario: Scenario) -> list[SimulatedMessage]:
    with tempfile.TemporaryDirectory(prefix="notifier-simulate-") as folder:
        sandbox = settings.model_copy(
            update={
                "database": DatabaseSettings(url=f"sqlite+aiosqlite:///{Path(folder) / 'sim.db'}"),
                "operations_email": settings.operations_email or "operations@example.com",
            }
        )
        clock = VirtualClock(scenario.start)
        app = await App.open(sandbox, clock=clock)
        channels = {name: RecordingChannel.for_channel(name) for name in ChannelName}
        worker = Worker(app, channels)
        try:
            await _load_customers(app, scenario, clock)
            declared: list[int] = []
            ordered = sorted(enumerate(scenario.events), key=lambda pair: pair[1].at)
            for index, event in ordered:
                # The operator's change comes before what falls due at the same instant.
                await advance_to(worker, clock, scenario.start + event.at, work_at_until=False)
                try:
                    await _apply(app, event.action(), declared, clock)
                except (InputError, InvalidTransition, NotFound) as exc:
                    raise ScenarioError(
                        f"{scenario.where('events', index)}: events[{index + 1}] at "
                        f"+{event.at}: {exc}"
                    ) from None
            await advance_to(worker, clock, scenario.start + scenario.horizon)
            return await _sent(app)
        finally:
            await worker.close()
            await app.close()


async def _load_customers(app: App, scenario: Scenario, clock: VirtualClock) -> None:
    defaults: dict[str, Any] = {
        "default_region": app.settings.sms.default_region,
        "default_locale": app.settings.default_locale,
        "default_timezone": app.settings.default_timezone,
        "now": clock.now(),
    }
    if scenario.customers_file is not None:
        report = await import_customers(app.engine, scenario.customers_file, **defaults)
        if report.errors:
            error = report.errors[0]
            raise ScenarioError(f"{scenario.customers_file}:{error.line}: {error.reason}")
    if scenario.customers:
        rows = [
            (index + 1, _customer_row(c.model_dump())) for index, c in enumerate(scenario.customers)
        ]
        report = await import_rows(app.engine, rows, **defaults)
        if report.errors:
            error = report.errors[0]  # its line is the table's number, 1-based
            raise ScenarioError(
                f"{scenario.where('customers', error.line - 1)}: customers[{error.line}]: "
                f"{error.reason}"
            )


def _customer_row(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


async def _apply(
    app: App,
    action: Declare | Update | Resolve | OrderEvent,
    declared: list[int],
    clock: VirtualClock,
) -> None:
    now = clock.now()
    if isinstance(action, OrderEvent):
        await record_order_event(
            app.engine,
            action.id,
            status=action.status,
            customer_id=action.customer,
            promised_date=action.promised_date,
            carrier=action.carrier,
            tracking=action.tracking,
            note=action.note,
            source="scenario",
            now=now,
        )
        return
    if isinstance(action, Declare):
        incident = await incidents.declare(
            app.engine,
            title=action.title,
            severity=action.severity,
            affects=action.affects,
            eta=now + action.eta if action.eta is not None else None,
            workaround=action.workaround,
            message=action.message,
            next_update_by=(
                now + action.next_update if action.next_update is not None else None
            ),
            now=now,
        )
        declared.append(incident.id)
        return
    if action.incident > len(declared):
        raise ScenarioError(f"incident {action.incident} has not been declared by then")
    incident_id = declared[action.incident - 1]
    if isinstance(action, Update):
        await incidents.update(
            app.engine,
            incident_id,
            message=action.message,
            status=action.status,
            eta=now + action.eta if action.eta is not None else None,
            workaround=action.workaround,
            next_update_by=(
                now + action.next_update if action.next_update is not None else None
            ),
            now=now,
        )
    else:
        await incidents.resolve(
            app.engine, incident_id, cause=action.cause, message=action.message, now=now
        )


async def _sent(app: App) -> list[SimulatedMessage]:
    async with app.engine.connect() as conn:
        rows = await outbox_queries.sent_in_order(conn)
    return [
        SimulatedMessage(
            time=r.sent_at,
            customer=r.customer_id,
            channel=r.channel,
            rule=r.rule,
            template=r.template,
            summary=r.subject or _first_line(r.body_text),
            text=r.body_text or "",
        )
        for r in rows
    ]


def _first_line(text: str | None) -> str:
    lines: Iterable[str] = (text or "").strip().splitlines()
    return next(iter(lines), "")
