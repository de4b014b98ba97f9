"""What a service needs of the running application, as a protocol.

`notifier.runtime.app.App` satisfies it. Services name this type rather than App: the
runtime wires services in (App.message_headers uses the unsubscribe tokens), so a service
importing the runtime would close a cycle.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.engine.rules import LiveRules
from notifier.templating.catalog import LiveCatalog


class Running(Protocol):
    """Settings, database, clock, and the rules and templates in force."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def rules(self) -> LiveRules: ...

    @property
    def templates(self) -> LiveCatalog: ...
