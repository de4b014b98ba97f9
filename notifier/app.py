"""The running application: settings, database, clock, the rules and templates in force.

Built once per process and passed to the CLI commands, the worker and the HTTP API, so that
they share one engine and one view of the rules and templates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel
from notifier.channels.email import EmailChannel
from notifier.channels.sms import SmsChannel
from notifier.clock import Clock, SystemClock
from notifier.config import Settings
from notifier.domain.messages import ChannelName
from notifier.engine.rules import LiveRules
from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from notifier.store.outbox import ClaimedMessage
from notifier.templating.catalog import LiveCatalog

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    rules: LiveRules
    templates: LiveCatalog

    @classmethod
    async def open(
        cls, settings: Settings, *, clock: Clock | None = None, migrate: bool = True
    ) -> App:
        # Rules and templates first: a broken file is refused before anything touches the
        # database.
        rules = LiveRules(settings.paths.rules)
        templates = LiveCatalog(settings.paths.templates, settings.default_locale)
        engine = create_engine(settings.database.url, echo=settings.database.echo)
        if migrate:
            await upgrade(engine)
        return cls(settings, engine, clock or SystemClock(), rules, templates)

    def reload(self) -> list[str]:
        """Re-read rules and templates. A broken file is refused and the last good set stays
        in force; the errors are returned (and logged) so an operator sees why."""
        errors = self.rules.reload() + self.templates.reload()
        for error in errors:
            log.error("reload refused: %s", error, extra={"action": "reload_refused"})
        if not errors:
            log.info("rules and templates reloaded", extra={"action": "reloaded"})
        return errors

    def message_headers(self, message: ClaimedMessage) -> dict[str, str]:
        """Extra headers for one outgoing message (none yet; the HTTP API adds some)."""
        return {}

    def make_channels(self) -> dict[ChannelName, Channel]:
        return {
            ChannelName.EMAIL: EmailChannel(self.settings.email),
            ChannelName.SMS: SmsChannel(self.settings.sms),
        }

    async def close(self) -> None:
        await self.engine.dispose()
