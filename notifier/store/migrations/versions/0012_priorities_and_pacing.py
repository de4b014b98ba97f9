"""outbox priority and expiry; the shared pace of each provider account

Revision ID: 0012
Revises: 0011 (written on 0009; relinked as 0010 and 0011 reached main)
Create Date: 2026-12-06

- outbox.priority (higher is claimed first) and outbox.expires_at (not worth delivering
  after it). ix_outbox_channel_priority_due (status, channel, priority DESC,
  next_attempt_at) replaces ix_outbox_channel_due: a channel's claim reads its most
  important due rows first, still one index range per status.
- send_limits: one row per provider account, the state of the rate limiter that every
  worker shares (GCRA: a theoretical arrival time, a slow-down, a daily count).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="50")
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_outbox_channel_priority_due",
            ["status", "channel", sa.text("priority DESC"), "next_attempt_at"],
            unique=False,
        )
        batch_op.drop_index("ix_outbox_channel_due")
    op.create_table(
        "send_limits",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("slow_factor", sa.Float(), nullable=False, server_default="1"),
        sa.Column("slow_until", sa.Float(), nullable=False, server_default="0"),
        sa.Column("day", sa.String(10), nullable=False, server_default=""),
        sa.Column("day_count", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_limits")),
    )


def downgrade() -> None:
    op.drop_table("send_limits")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_channel_due", ["status", "channel", "next_attempt_at"], unique=False
        )
        batch_op.drop_index("ix_outbox_channel_priority_due")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("priority")
