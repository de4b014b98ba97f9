"""Tables of the HTTP API: API keys, support contacts, inbound SMS and delivery callbacks."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from notifier.store.tables import metadata
from notifier.store.types import BigId, UTCDateTime

# A key is shown once, when created; only its SHA-256 is kept (a 256-bit random key needs
# no slow hash: nobody can guess its way to a preimage). `prefix` names it in listings.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # ops | support | viewer | admin
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_api_keys_key_hash", "key_hash", unique=True),
)

# A customer contacted support (from a helpdesk): what the report's "told before they
# called" is measured against.
contacts = Table(
    "contacts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),  # phone, email, chat, ...
    Column("at", UTCDateTime, nullable=False),
    Column("subject", Text),
    Column("source", String(128), nullable=False),  # the helpdesk (API key name)
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_contacts_customer_at", "customer_id", "at"),
)

# Every SMS a customer sent us, keyword or not. `provider_sid` is unique: Twilio retrying
# a webhook records (and forwards) nothing twice.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider_sid", String(64), nullable=False),
    Column("customer_id", ForeignKey("customers.id", ondelete="SET NULL")),
    Column("from_number", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # stop | start | help | reply
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_inbound_messages_provider_sid", "provider_sid", unique=True),
    Index("ix_inbound_messages_customer", "customer_id", "received_at"),
)

# Provider status callbacks, as received. `outbox_id` stays NULL while no outbox row has
# the provider id yet: a callback may overtake the dispatcher recording its own send.
delivery_events = Table(
    "delivery_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("outbox_id", BigId),
    Column("provider_id", String(128), nullable=False),
    Column("status", String(32), nullable=False),  # the provider's word: delivered, ...
    Column("error_code", String(32)),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_delivery_events_outbox", "outbox_id", "id"),
    Index("ix_delivery_events_provider", "provider_id"),
)

# Console sessions ended by signing out, until their cookie would have expired anyway: a
# signed cookie saved before signing out must not work again. Keyed by a hash of the
# session's random CSRF token (the token itself is not kept).
console_signouts = Table(
    "console_signouts",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_signouts_expires_at", "expires_at"),
)
