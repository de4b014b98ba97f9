"""Planned future work: follow-ups and deadlines (ETA watchdog, promised updates).

A row is the source of truth for something that must happen at `due_at`, so it survives a
restart; APScheduler only wakes a worker when the earliest row falls due.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from notifier.store.tables import metadata
from notifier.store.types import BigId, UTCDateTime

schedules = Table(
    "schedules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # "followup": a rule's after/every message; "deadline": raises an event at due_at.
    Column("kind", String(16), nullable=False),
    # The rule name of a follow-up, or the event kind a deadline raises.
    Column("name", String(128), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("event_id", BigId, nullable=True),  # the event that planned it
    Column("due_at", UTCDateTime, nullable=False),
    Column("every_seconds", Integer),
    Column("max_times", Integer),
    Column("fired", Integer, nullable=False, default=0),
    # pending -> firing (claimed, with a lease) -> pending (next repeat) | done
    # pending -> cancelled (until met, subject closed, deadline moved) | skipped (stale)
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("payload", JSON, nullable=False),
    Column("claimed_by", String(128)),
    Column("claimed_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # A tick reads only what is due: an index scan over (status, due_at), whatever the
    # number of pending rows.
    Index("ix_schedules_due", "status", "due_at"),
    Index("ix_schedules_subject", "subject_type", "subject_id", "status"),
)
