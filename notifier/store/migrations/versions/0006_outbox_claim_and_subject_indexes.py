"""outbox indexes for per-channel claims and per-customer subject lookups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

- ix_outbox_channel_due (status, channel, next_attempt_at): a channel's claim reads its
  own due rows in order, instead of stepping over the other channel's.
- ix_outbox_subject_customer (subject_type, subject_id, customer_id) replaces
  ix_outbox_subject: a fan-out page looks up what its customers were told about the
  subject (supersede, min_gap, grouping). With only (subject_type, subject_id) each page
  scanned every row of the subject written so far, so a fan-out cost grew with the square
  of its audience.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_channel_due", ["status", "channel", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_subject_customer",
            ["subject_type", "subject_id", "customer_id"],
            unique=False,
        )
        batch_op.drop_index("ix_outbox_subject")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_subject", ["subject_type", "subject_id"], unique=False)
        batch_op.drop_index("ix_outbox_subject_customer")
        batch_op.drop_index("ix_outbox_channel_due")
