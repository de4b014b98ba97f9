"""The database schema. Alembic migrations in store/migrations must match it (a test checks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from notifier.store.types import BigId, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", String(128), primary_key=True),  # the company's own customer id
    Column("name", String(256), nullable=False),
    Column("email", String(320)),
    Column("phone", String(32)),  # E.164
    Column("locale", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# What makes a customer "affected": the services or regions they depend on. A table rather
# than a JSON list so that the audience of an incident is an indexed join, streamed in pages.
customer_services = Table(
    "customer_services",
    metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("service", String(128), primary_key=True),
    Index("ix_customer_services_service_customer", "service", "customer_id"),
)

# A channel a customer declined, with when and why. category "*" means every category.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(300), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("affects", JSON, nullable=False),
    Column("eta", UTCDateTime),
    Column("workaround", Text),
    Column("cause", Text),
    Column("message", Text),  # the latest public message
    # The free text (message, workaround, cause) in other locales: {field: {locale: text}}.
    Column("translations", JSON),
    Column("next_update_by", UTCDateTime),  # promised time of the next public update
    Column("declared_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index("ix_incidents_status", "status"),
)

incident_updates = Table(
    "incident_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text),
    Column("eta", UTCDateTime),
    Column("workaround", Text),
    Column("cause", Text),
    Column("translations", JSON),  # as incidents.translations, for this update's text
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_incident_updates_incident", "incident_id", "id"),
)

_WAITING: dict[str, Any] = {
    "postgresql_where": text("planned_at IS NULL"),
    "sqlite_where": text("planned_at IS NULL"),
}

# An immutable record of every state change. Rules react to events; `planned_at` stays NULL
# until the rules have been applied, so a crash between commit and planning cannot skip one.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32)),
    Column("payload", JSON, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("planned_at", UTCDateTime),
    Column("claimed_by", String(128)),
    Column("claimed_until", UTCDateTime),
    Index("ix_events_subject", "subject_type", "subject_id", "id"),
    # Partial: only the events waiting for planning, a handful however long the table grows.
    # The claim walks them oldest first and checks each has no older waiting event of its
    # subject: two probes of small indexes, instead of a scan of the whole table.
    Index("ix_events_waiting", "id", **_WAITING),
    Index("ix_events_waiting_subject", "subject_type", "subject_id", "id", **_WAITING),
)

# One row per message we decided to send (or decided not to, with the reason). The unique
# idempotency key is (event or schedule firing, rule, customer, channel): planning the same
# event twice inserts nothing new, so a retried fan-out never doubles a message.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(400), nullable=False),
    Column("event_id", ForeignKey("events.id"), nullable=True),
    Column("rule", String(128), nullable=False),
    Column("template", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(320)),
    Column("locale", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("subject", Text),
    Column("body_text", Text),
    Column("body_html", Text),
    Column("attempts", Integer, nullable=False, default=0),
    # Higher is claimed first: an outage notice never waits behind an order backlog.
    Column("priority", SmallInteger, nullable=False, default=50, server_default="50"),
    # Not worth delivering after this: expires unsent; bounds the provider's validity.
    Column("expires_at", UTCDateTime),
    Column("next_attempt_at", UTCDateTime),
    Column("claimed_by", String(128)),
    Column("claimed_until", UTCDateTime),
    Column("provider_id", String(128)),
    Column("error_code", String(32)),
    # Which configured provider (relay, SMS account) carried it (failover).
    Column("provider", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    # A channel's claim reads only its own due rows, in order.
    Index("ix_outbox_customer", "customer_id", "created_at"),
    # A fan-out page's lookups (supersede, min_gap, grouping): what these customers were
    # told about this subject, without scanning the subject's whole audience.
    Index("ix_outbox_subject_customer", "subject_type", "subject_id", "customer_id"),
    Index("ix_outbox_provider", "provider_id"),
)

# The claim: a channel's due rows, most important first, each priority oldest due first.
Index(
    "ix_outbox_channel_priority_due",
    outbox.c.status,
    outbox.c.channel,
    outbox.c.priority.desc(),
    outbox.c.next_attempt_at,
)

# The pace of each provider account, shared by every worker (delivery/limiter.py): GCRA, one
# "theoretical arrival time" per key, in seconds since the epoch; a slow-down stretches the
# interval by `slow_factor` until `slow_until`; a daily quota counts `day_count` on `day`.
send_limits = Table(
    "send_limits",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("tat", Float, nullable=False),
    Column("slow_factor", Float, nullable=False, default=1.0, server_default="1"),
    Column("slow_until", Float, nullable=False, default=0.0, server_default="0"),
    Column("day", String(10), nullable=False, default="", server_default=""),
    Column("day_count", Integer, nullable=False, default=0, server_default="0"),
)
