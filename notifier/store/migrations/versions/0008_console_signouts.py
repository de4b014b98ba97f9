"""console sessions ended by signing out

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A console cookie is signed and holds its own expiry; without a record of sign-outs, a cookie
saved before signing out kept working for up to 12 hours.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_signouts",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_console_signouts")),
    )
    with op.batch_alter_table("console_signouts", schema=None) as batch_op:
        batch_op.create_index("ix_console_signouts_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_signouts", schema=None) as batch_op:
        batch_op.drop_index("ix_console_signouts_expires_at")
    op.drop_table("console_signouts")
