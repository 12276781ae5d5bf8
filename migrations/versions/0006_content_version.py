"""content version: the number the shared cache's keys carry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00

content_version holds one row whose version goes up, in the same transaction, with every change
readers would see (a post added or deleted, a nickname changed, an account suspended, restored or
deleted). The shared cache puts the version in its keys, so every process stops reading entries
made before a change at once (see app/shared_cache.py). The app writes the row if it is missing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    # A database made by db.create_all() before migrations may already have it.
    if "content_version" in sa.inspect(op.get_bind()).get_table_names():
        return
    table = op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade():
    op.drop_table("content_version")
