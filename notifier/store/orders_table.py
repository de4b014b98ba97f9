"""Orders, their history, and how far each source watcher has read.

Orders are keyed by the shop's own id: every source names an order that way, so a change
reported twice (by a resend, or by a watcher replaying its last row) finds the same row.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, String, Table, Text

from notifier.store.tables import metadata
from notifier.store.types import BigId, UTCDateTime

orders = Table(
    "orders",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(32), nullable=False),
    Column("promised_date", Date),
    # The end of promised_date in the customer's time zone: what the watchdog compares
    # `now` against, so it never has to know about time zones.
    Column("promised_by", UTCDateTime),
    Column("carrier", String(64)),
    Column("tracking", String(128)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_orders_customer", "customer_id", "updated_at"),
    # The watchdog asks for "open orders whose promised_by is near": one range per open
    # status over (status, promised_by). An index on promised_by alone would also walk
    # every delivered order of the past.
    Index("ix_orders_status_promised_by", "status", "promised_by"),
)

# One row per accepted change, written with its event: `order show` reads it, and the note
# of the latest one tells a resend from news.
order_events = Table(
    "order_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(32), nullable=False),
    Column("promised_date", Date),  # the order's, after this change
    Column("carrier", String(64)),
    Column("tracking", String(128)),
    Column("note", Text),
    Column("source", String(128), nullable=False),  # "cli", "import", "api", a source name
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Index("ix_order_events_order", "order_id", "id"),
)

# A source watcher's high-water mark: the last row it turned into an event, as a JSON list
# (updated_at, id) or (id,). A row with a NULL mark means "from the first row": the watcher
# started on an empty source, or was told to read everything.
source_marks = Table(
    "source_marks",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("mark", JSON),
    Column("updated_at", UTCDateTime, nullable=False),
)
