"""template versions in the database

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "template_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("path", sa.String(length=256), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_live", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_versions")),
        sa.UniqueConstraint("path", "version", name="uq_template_versions_path_version"),
    )
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.create_index("ix_template_versions_live", ["is_live", "path"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_template_versions_live")

    op.drop_table("template_versions")
