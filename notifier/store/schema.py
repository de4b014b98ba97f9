"""The whole schema: every table module, imported so that `metadata` knows every table.

Table modules add their tables to `notifier.store.tables.metadata`; migrations and the
schema-drift test import this module, never a single table module.
"""

from __future__ import annotations

from notifier.store import api_tables, orders_table, schedules_table, services_table, tables
from notifier.store import templates_table as templates_table
from notifier.store.tables import metadata

__all__ = [
    "api_tables",
    "metadata",
    "orders_table",
    "schedules_table",
    "services_table",
    "tables",
]
