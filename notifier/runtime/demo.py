"""`notifier demo`: the XM Satellite Radio outage, told to every affected customer.

Runs on the embedded default (a SQLite file), with an in-process SMTP server and a local
stand-in of the Twilio Messages API: each message really crosses SMTP and HTTP, and nothing
leaves the machine. Time runs on a virtual clock, so the night between the first and the
second email passes in an instant while every timestamp stays true to the story.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from rich.text import Text

from notifier.clock import VirtualClock
from notifier.config import (
    CompanySettings,
    DatabaseSettings,
    DeliverySettings,
    EmailSettings,
    Settings,
    SmsSettings,
)
from notifier.outbox import queries as outbox_queries
from notifier.runtime.app import App
from notifier.runtime.simulation import advance_to
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.services.customers import import_customers
from notifier.services.timeline import customer_timeline
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from notifier.store.customers import search_customers

DEMO_SID = "AC" + "d" * 32
DEMO_TOKEN = "demo-token"


@dataclass
class DemoResult:
    database_url: str
    emails: int = 0
    sms: int = 0
    by_status: dict[tuple[str, str], int] = field(default_factory=dict)


def demo_settings(base: Settings, database_url: str, smtp_port: int, twilio_url: str) -> Settings:
    return base.model_copy(
        update={
            "database": DatabaseSettings(url=database_url),
            "email": EmailSettings(
                host="127.0.0.1",
                port=smtp_port,
                from_address="status@xm-demo.example",
                from_name="XM Satellite Radio",
                pool_size=4,
                message_id_domain="xm-demo.example",
            ),
            "sms": SmsSettings(
                account_sid=DEMO_SID,
                auth_token=SecretStr(DEMO_TOKEN),
                from_number="+12025550100",
                api_base_url=twilio_url,
            ),
            "delivery": DeliverySettings(backoff_base=1.0),
            "company": CompanySettings(
                name="XM Satellite Radio", support_url="https://xm-demo.example/help"
            ),
        }
    )


def prepare_workdir(workdir: Path) -> str:
    """A fresh demo database each run, and a config file that points at it."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("demo.db*"):
        stale.unlink()
    url = f"sqlite+aiosqlite:///{workdir / 'demo.db'}"
    (workdir / "demo.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return url


async def run_demo(base: Settings, workdir: Path, console: Console) -> DemoResult:
    url = prepare_workdir(workdir)
    sink = SmtpSink()
    standin = TwilioStandin(account_sid=DEMO_SID, auth_token=DEMO_TOKEN)
    sink.start()
    await standin.start()
    settings = demo_settings(base, url, sink.port, standin.base_url)
    # The story starts in the evening, US Eastern time, like XM's did.
    clock = VirtualClock(datetime(2026, 11, 23, 2, 10, tzinfo=UTC))
    app = await App.open(settings, clock=clock)
    try:
        return await _story(app, clock, sink, standin, console, url, workdir)
    finally:
        await app.close()
        await standin.stop()
        sink.stop()


async def _story(
    app: App,
    clock: VirtualClock,
    sink: SmtpSink,
    standin: TwilioStandin,
    console: Console,
    url: str,
    workdir: Path,
) -> DemoResult:
    source = Path(str(files("notifier") / "demo_data" / "customers.csv"))
    report = await import_customers(
        app.engine,
        source,
        default_region=app.settings.sms.default_region,
        default_locale=app.settings.default_locale,
        default_timezone=app.settings.default_timezone,
        now=clock.now(),
    )
    console.rule(Text("notifier demo: the XM Satellite Radio outage", style="bold"))
    console.print(
        f"SMTP server on 127.0.0.1:{sink.port}, Twilio stand-in at {standin.base_url}, "
        f"database {url}"
    )
    console.print(f"{report.created} customers loaded from {source.name}")

    worker = Worker(app)
    seen_mail = seen_sms = 0

    async def until(moment: datetime, step: str) -> None:
        """Let the worker run through the night to `moment`, then show what went out."""
        nonlocal seen_mail, seen_sms
        await advance_to(worker, clock, moment)
        console.rule(Text(step, style="bold"))
        for mail in sink.messages[seen_mail:]:
            console.print(f"  email to {', '.join(mail.rcpt_tos)}: {mail.message['Subject']}")
        for sms in standin.messages[seen_sms:]:
            first = sms.body.splitlines()[0] if sms.body else ""
            console.print(f"  sms   to {sms.to}: {first[:100]}")
        seen_mail, seen_sms = len(sink.messages), len(standin.messages)

    start = clock.now()
    try:
        incident = await incidents.declare(
            app.engine,
            title="Satellite radio signal outage",
            severity="major",
            affects=["satellite-radio"],
            eta=start + timedelta(hours=17, minutes=50),
            message=(
                "Our satellites stopped broadcasting after a ground-station fault. Your radio "
                "is not broken: no action is needed."
            ),
            now=start,
        )
        await until(
            start, f"{_t(start)}  incident {incident.id} declared: everyone is told at once"
        )
        morning = start + timedelta(hours=10, minutes=20)
        await until(morning, "overnight: the scheduler's 'still working on it' follow-ups")
        await incidents.update(
            app.engine,
            incident.id,
            status="identified",
            eta=start + timedelta(hours=25),
            workaround="Most stations are back on air; online streaming works for every station.",
            message="The repair will take 6 to 8 hours longer than we promised. We are sorry.",
            now=clock.now(),
        )
        await until(morning, f"{_t(morning)}  next morning: the ETA slips, and we say so first")
        back = start + timedelta(hours=16, minutes=45)
        await until(back - timedelta(minutes=1), "during the day: follow-ups continue")
        clock.set(back)
        await incidents.resolve(
            app.engine,
            incident.id,
            cause="A faulty software update at a ground station; it has been rolled back.",
            message="Leave your radio switched on outdoors for 5 minutes to pick up the signal.",
            now=back,
        )
        await until(back, f"{_t(back)}  resolved: the cause, and a practical tip")
        await until(back + timedelta(hours=12), "afterwards: the follow-ups stopped by themselves")
    finally:
        await worker.close()

    async with app.engine.connect() as conn:
        by_status = await outbox_queries.count_by_status(conn)
    await _summary(app, console, sink, standin)
    console.print(
        Text.assemble(
            "\nRead any customer's timeline: ",
            (f"notifier --config {workdir / 'demo.toml'} timeline c-1008", "bold"),
        )
    )
    return DemoResult(url, len(sink.messages), len(standin.messages), by_status)


async def _summary(app: App, console: Console, sink: SmtpSink, standin: TwilioStandin) -> None:
    emails = Counter(rcpt for m in sink.messages for rcpt in m.rcpt_tos)
    texts = Counter(m.to for m in standin.messages)
    table = Table(title="What each customer received", show_lines=False)
    for column in ("customer", "locale", "emails", "SMS", "not sent (why)"):
        table.add_column(column)
    async with app.engine.connect() as conn:
        customers = await search_customers(conn, "", limit=1000)
    for customer in sorted(customers, key=lambda c: c.id):
        data = await customer_timeline(app.engine, customer.id)
        held = Counter(
            f"{e['channel']}: {e['reason'] if e['status'] == 'suppressed' else e['status']}"
            for e in data["entries"]
            if e["status"] != "sent"
        )
        reasons = [f"{what} x{n}" if n > 1 else what for what, n in sorted(held.items())]
        table.add_row(
            f"{customer.id} {customer.name}",
            customer.locale,
            str(emails.get(customer.email or "", 0)),
            str(texts.get(customer.phone or "", 0)),
            "; ".join(reasons) or ("not affected" if not data["entries"] else ""),
        )
    console.print(table)
    console.print(
        f"SMTP server received {len(sink.messages)} emails; "
        f"Twilio stand-in received {len(standin.messages)} SMS."
    )


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
