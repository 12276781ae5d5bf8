"""keyset indexes on post, user.post_count

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:00:00

Pages of posts are found by their (timestamp, id) key rather than by OFFSET
(app/pagination.py). post(timestamp, id) serves the timeline and replaces the index
on timestamp alone (on PostgreSQL that one cannot give the id tie-break without a
sort); post(user_id, timestamp, id) serves a profile without sorting all of the
author's posts, and replaces the index on user_id alone (its leading column still
serves the foreign key). user.post_count is the profile's "N posts" without a
COUNT(*): filled here from the posts that exist, then kept by the app.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEW_INDEXES = {
    "ix_post_timestamp_id": ["timestamp", "id"],
    "ix_post_user_id_timestamp_id": ["user_id", "timestamp", "id"],
}
OLD_INDEXES = {"ix_post_timestamp": ["timestamp"], "ix_post_user_id": ["user_id"]}


# Plain ALTER TABLE and CREATE INDEX, not batch mode: rebuilding "user" on SQLite would lose the
# lower(nickname) index, which Alembic cannot reflect there. if_(not_)exists: a database made by
# db.create_all() (adopted at 0001, see app/database.py) already has the new indexes and column.


def upgrade():
    for name, columns in NEW_INDEXES.items():
        op.create_index(name, "post", columns, unique=False, if_not_exists=True)
    for name in OLD_INDEXES:
        op.drop_index(name, table_name="post", if_exists=True)
    if "post_count" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("user")}:
        op.add_column("user", sa.Column("post_count", sa.Integer(), server_default="0", nullable=False))
    backfill_post_counts()


def backfill_post_counts():
    user = sa.table("user", sa.column("id", sa.Integer), sa.column("post_count", sa.Integer))
    post = sa.table("post", sa.column("user_id", sa.Integer))
    count = sa.select(sa.func.count()).where(post.c.user_id == user.c.id).scalar_subquery()
    op.execute(user.update().values(post_count=count))


def downgrade():
    op.drop_column("user", "post_count")
    for name, columns in OLD_INDEXES.items():
        op.create_index(name, "post", columns, unique=False)
    for name in NEW_INDEXES:
        op.drop_index(name, table_name="post")
