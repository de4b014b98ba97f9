"""Services (the status page's components) and planned maintenance of them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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

maintenances = Table(
    "maintenances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(300), nullable=False),
    Column("message", Text),
    Column("affects", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_maintenances_status", "status", "starts_at"),
)

maintenance_updates = Table(
    "maintenance_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("maintenance_id", ForeignKey("maintenances.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_maintenance_updates_maintenance", "maintenance_id", "id"),
)

# A visitor's subscription from the status page. Pending until confirmed (a link by email,
# a code by SMS); once confirmed it is a customer (`customer_id`) whom the rules reach like
# any other, through the services they chose.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),  # an email address or an E.164 number
    Column("services", JSON, nullable=False),
    Column("locale", String(16), nullable=False),
    Column("code_hash", String(64)),  # SMS: the code's HMAC; NULL once used
    Column("attempts", Integer, nullable=False),  # wrong codes since the last one sent
    Column("sends", Integer, nullable=False),  # confirmation messages in the current window
    Column("window_start", UTCDateTime, nullable=False),
    Column("customer_id", String(128)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    UniqueConstraint("channel", "address", name="uq_subscriptions_channel"),
)
