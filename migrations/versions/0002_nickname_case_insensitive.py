"""case-insensitive unique nicknames

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 06:00:00

"Alice" and "alice" are one nickname. The app checked that before saving; two
sign-ins at the same moment could still both pass the check. A unique index on
lower(nickname) makes the database refuse the second one (the app already turns
that IntegrityError into "choose another nickname").

Upgrading a database that already holds two nicknames differing only in case
fails with a message naming them; rename one, then upgrade again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    clashes = op.get_bind().execute(
        sa.text('SELECT lower(nickname) FROM "user" GROUP BY lower(nickname) HAVING count(*) > 1')
    ).scalars().all()
    if clashes:
        raise RuntimeError(
            "These nicknames exist in more than one letter case: "
            + ", ".join(sorted(clashes))
            + ". Rename all but one of each, then run the upgrade again."
        )
    # if_not_exists: a database made by db.create_all() before migrations already has it.
    op.create_index("uq_user_nickname_lower", "user", [sa.text("lower(nickname)")], unique=True, if_not_exists=True)


def downgrade():
    op.drop_index("uq_user_nickname_lower", table_name="user")
