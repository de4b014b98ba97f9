"""outbox.provider: which configured provider carried each message

Revision ID: 0011
Revises: 0010 (0007 when written; relinked as 0008, 0009 and 0010 reached main)
Create Date: 2026-12-06

With several SMTP relays or SMS accounts (failover), the delivery log says which one took
each message: the relay's or account's name from the settings. Nullable: rows sent before
this revision, and rows not sent, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("provider")
