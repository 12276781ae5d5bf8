"""moderation: suspended accounts, sign-in counts and times

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:00:00

`flask users suspend` sets user.suspended_at; `flask users list` shows
user.sign_in_count and user.last_sign_in_at. Existing users start with
no suspension, zero sign-ins and no recorded sign-in time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: rebuilding the table on SQLite would lose the
# lower(nickname) index, which Alembic cannot reflect there.


# A database made by db.create_all() (adopted at 0001, see app/database.py) may have them already.


def upgrade():
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("user")}
    columns = [
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sign_in_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
    ]
    for column in columns:
        if column.name not in existing:
            op.add_column("user", column)
    # The index page leaves out suspended authors' posts by this short list.
    op.create_index("ix_user_suspended_at", "user", ["suspended_at"], unique=False, if_not_exists=True)


def downgrade():
    op.drop_index("ix_user_suspended_at", table_name="user")
    op.drop_column("user", "last_sign_in_at")
    op.drop_column("user", "sign_in_count")
    op.drop_column("user", "suspended_at")
