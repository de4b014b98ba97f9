"""operator free text in other locales

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

incidents.translations and incident_updates.translations: the operator's message,
workaround and cause in locales other than the default, as {field: {locale: text}}. The
default locale's text stays in the message, workaround and cause columns; NULL means none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("incidents", "incident_updates"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("incidents", "incident_updates"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("translations")
