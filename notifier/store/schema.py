"""The whole schema: every table module, imported so that `metadata` knows every table.

Table modules add their tables to `notifier.store.tables.metadata`; migrations and the
schema-drift test import this module, never a single table module.
"""

from __future__ import annotations

from notifier.store import schedules_table, tables
from notifier.store.tables import metadata

__all__ = ["metadata", "schedules_table", "tables"]
