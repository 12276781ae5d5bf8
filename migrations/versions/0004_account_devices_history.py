"""device sessions, security history, when each sign-in method was last used

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:30:00

user_session records each browser's sign-in (the session and remember cookies carry its random
session_token), so logout and "sign out this device" end it on the server. security_event is the
account's security history. identity.last_used_at says when a sign-in method was last used.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # A database made by db.create_all() before migrations may already have these: skip what exists.
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "user_session" not in tables:
        create_user_session()
    if "security_event" not in tables:
        create_security_event()
    if "last_used_at" not in {column["name"] for column in inspector.get_columns("identity")}:
        with op.batch_alter_table("identity", schema=None) as batch_op:
            batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def create_user_session():
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=120), nullable=False),
        sa.Column("method", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_user_session_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
    )
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_session_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_session_session_token"), ["session_token"], unique=True)
        batch_op.create_index(batch_op.f("ix_user_session_user_id"), ["user_id"], unique=False)


def create_security_event():
    op.create_table(
        "security_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.Column("device", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_security_event_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
    )
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_event_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
    op.drop_table("security_event")
    op.drop_table("user_session")
