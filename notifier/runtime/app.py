"""The running application: settings, database, clock, the rules and templates in force.

Built once per process and passed to the CLI commands, the worker and the HTTP API, so that
they share one engine and one view of the rules and templates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel
from notifier.channels.registry import channel_class, channel_classes
from notifier.clock import Clock, SystemClock
from notifier.config import Settings
from notifier.domain.customers import category_of
from notifier.domain.incidents import Severity
from notifier.domain.messages import STATUS_CALLBACK, ChannelName
from notifier.engine.fanout import OPERATIONS_ID
from notifier.engine.rules import LiveRules
from notifier.errors import ConfigError
from notifier.outbox.claims import ClaimedMessage
from notifier.services.template_catalog import DbCatalog
from notifier.services.unsubscribe import make_token
from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from notifier.templating.catalog import LiveCatalog

log = logging.getLogger(__name__)


async def _migrate(settings: Settings) -> None:
    """Bring the schema up to date on an engine of its own: without the statement timeout,
    which could cut a long migration (an index built on a large table) halfway."""
    engine = create_engine(settings.database.url, echo=settings.database.echo)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


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
        paths = settings.paths
        for name, path in (("rules", paths.rules), ("templates", paths.templates)):
            if not path.is_dir():
                raise ConfigError(
                    f"paths.{name}: {path.absolute()} is not a directory (a relative path is "
                    "taken from the directory notifier runs in)"
                )
        rules = LiveRules(paths.rules)
        engine = create_engine(
            settings.database.url,
            echo=settings.database.echo,
            statement_timeout=settings.database.statement_timeout,
        )
        # The folder's set now (a broken file is refused here); the database's live set,
        # if there is one, replaces it, and every process follows its changes.
        templates = DbCatalog(settings.paths.templates, settings.default_locale, engine)
        if migrate:
            await _migrate(settings)
        await templates.open()
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
        """Extra headers for one outgoing message; runs per message, so no I/O.

        Channels with provider status callbacks (SMS, WhatsApp) ask for them; channels
        with `list_unsubscribe` (customer emails) get a one-click unsubscribe link (RFC
        8058) for their category, except news of a critical incident, which
        nobody should miss by mistake (their opt-outs are still honoured at planning).
        Both need `api.public_base_url`; the link also needs `api.unsubscribe_secret`.
        """
        api = self.settings.api
        base = api.public_base_url
        if base is None:
            return {}
        kind = channel_class(message.channel)
        if kind.status_callback_path is not None:
            return {STATUS_CALLBACK: f"{base}{kind.status_callback_path}"}
        if not kind.list_unsubscribe:
            return {}
        category = category_of(message.subject_type)
        secret = api.unsubscribe_secret
        # Only customers have a category: mail to operations or support has no link.
        if category is None or secret is None or message.customer_id == OPERATIONS_ID:
            return {}
        if message.severity == Severity.CRITICAL:
            return {}
        token = make_token(
            secret.get_secret_value(), message.customer_id, category, message.channel
        )
        return {
            "List-Unsubscribe": f"<{base}/u/{token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def make_channels(self) -> dict[ChannelName, Channel]:
        """Every channel its settings turn on (a channel left out fails its messages)."""
        made: dict[ChannelName, Channel] = {}
        for kind in channel_classes():
            channel = kind.from_settings(self.settings)
            if channel is not None:
                made[kind.name] = channel
        return made

    async def close(self) -> None:
        if isinstance(self.templates, DbCatalog):
            await self.templates.aclose()
        await self.engine.dispose()
