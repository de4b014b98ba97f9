"""Services: the components of the status page, keyed as incidents' `affects` name them."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from notifier.store.tables import metadata
from notifier.store.types import UTCDateTime

services = Table(
    "services",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("group_name", String(200)),
    Column("position", Integer, nullable=False),
    # An operator's word over the derived status; NULL means "derive it".
    Column("status_override", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_services_position", "position", "key"),
)
