"""An app wired to real local peers: SMTP server, Twilio stand-in, a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from notifier.clock import VirtualClock
from notifier.config import (
    DeliverySettings,
    EmailSettings,
    PathsSettings,
    Settings,
    SmsSettings,
    WhatsAppSettings,
)
from notifier.runtime.app import App
from notifier.runtime.simulation import advance_to
from notifier.runtime.worker import Worker
from notifier.services.customers import import_customers
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin

ROOT = Path(__file__).resolve().parent.parent
SID = "AC" + "7" * 32
TOKEN = "test-token"
WHATSAPP_SENDER = "+14155238886"
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)

CUSTOMERS_CSV = """id,name,email,phone,locale,timezone,services,opt_out
c-en,Ann Lee,ann@example.com,+12015550123,en,America/New_York,satellite-radio;billing,
c-fr,Zoé Martin,zoe@example.fr,+33612345678,fr,Europe/Paris,satellite-radio,
c-fr2,Élodie Roux,elodie@example.fr,+33698765432,fr_FR,Europe/Paris,satellite-radio,
c-nosms,Ben Cho,ben@example.com,+12015550124,en,America/Chicago,satellite-radio,sms
c-nophone,Cara Diaz,cara@example.com,,en,America/Denver,satellite-radio,
c-other,Dan Ford,dan@example.com,+12015550125,en,America/New_York,billing,
"""


@dataclass
class Harness:
    app: App
    clock: VirtualClock
    sink: SmtpSink
    twilio: TwilioStandin

    async def drain(self, max_wait: float = 3600.0) -> Worker:
        worker = Worker(self.app)
        await worker.run_until_idle(max_wait=max_wait)
        return worker

    async def run_until(self, when: datetime, worker: Worker | None = None) -> None:
        """Run a worker on the virtual clock up to `when`, doing everything due on the way."""
        own = worker is None
        worker = worker or Worker(self.app)
        try:
            await advance_to(worker, self.clock, when)
        finally:
            if own:
                await worker.close()

    async def load_customers(self, tmp_path: Path, csv_text: str = CUSTOMERS_CSV) -> None:
        path = tmp_path / "customers.csv"
        path.write_text(csv_text, encoding="utf-8")
        report = await import_customers(
            self.app.engine,
            path,
            default_region="US",
            default_locale="en",
            default_timezone="UTC",
            now=self.clock.now(),
        )
        assert report.errors == []


def settings_for(
    db_url: str,
    sink: SmtpSink,
    twilio: TwilioStandin,
    *,
    rules: Path | None = None,
    templates: Path | None = None,
    scheduler: dict[str, object] | None = None,
    grouping: dict[str, object] | None = None,
    **delivery: float,
) -> Settings:
    return Settings(
        database={"url": db_url},
        email=EmailSettings(
            host="127.0.0.1", port=sink.port, from_address="status@example.com", pool_size=2
        ),
        sms=SmsSettings(
            account_sid=SID,
            auth_token=SecretStr(TOKEN),
            from_number="+12025550100",
            api_base_url=twilio.base_url,
            timeout=2.0,
        ),
        # The same Twilio account as SMS (and so the same stand-in), its own sender.
        whatsapp=WhatsAppSettings(enabled=True, from_number=WHATSAPP_SENDER, timeout=2.0),
        delivery=DeliverySettings(**{"backoff_base": 1.0, "max_attempts": 4, **delivery}),
        paths=PathsSettings(
            rules=rules or ROOT / "rules", templates=templates or ROOT / "templates"
        ),
        operations_email="ops@example.com",
        scheduler=scheduler or {},
        grouping=grouping or {},
    )


@asynccontextmanager
async def harness(
    db_url: str,
    *,
    rules: Path | None = None,
    templates: Path | None = None,
    scheduler: dict[str, object] | None = None,
    grouping: dict[str, object] | None = None,
    **delivery: float,
) -> AsyncIterator[Harness]:
    sink = SmtpSink()
    twilio = TwilioStandin(account_sid=SID, auth_token=TOKEN)
    sink.start()
    await twilio.start()
    clock = VirtualClock(START)
    settings = settings_for(
        db_url,
        sink,
        twilio,
        rules=rules,
        templates=templates,
        scheduler=scheduler,
        grouping=grouping,
        **delivery,
    )
    app = await App.open(settings, clock=clock)
    try:
        yield Harness(app, clock, sink, twilio)
    finally:
        await app.close()
        await twilio.stop()
        sink.stop()
