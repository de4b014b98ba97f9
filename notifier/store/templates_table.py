"""Message templates kept in the database: every saved version, and which one is live.

A template is named by its path in the `templates/` layout ("incident_declared/email.en.j2").
Each save adds a version (1, 2, ...); at most one version per path is live, and the live
set is what every worker renders with. Nothing is ever updated in place except `is_live`,
so the largest live id changes whenever the live set does: workers poll that one number.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from notifier.store.tables import metadata
from notifier.store.types import BigId, UTCDateTime

template_versions = Table(
    "template_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("path", String(256), nullable=False),
    Column("source", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("author", String(128), nullable=False),  # the API key name, or "import"
    Column("created_at", UTCDateTime, nullable=False),
    Column("is_live", Boolean, nullable=False),
    UniqueConstraint("path", "version", name="uq_template_versions_path_version"),
    Index("ix_template_versions_live", "is_live", "path"),
)
