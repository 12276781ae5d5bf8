"""A python3-openid store kept in the app's database, shared by every worker process.

python3-openid ships SQL stores that take raw DB-API connections and their own
table layout; this one goes through the app's SQLAlchemy session and models so
that migrations, PostgreSQL and SQLite all work the same way.
"""

import functools
import time
from typing import cast

from openid.association import Association
from openid.store import nonce as nonce_rules
from openid.store.interface import OpenIDStore
from sqlalchemy import Executable, Integer, String, bindparam, delete, select

from app.database import insert_with_conflicts, rows_affected
from app.extensions import db
from app.models import OpenIDAssociation, OpenIDNonce


@functools.cache
def nonce_insert(dialect: str) -> Executable:
    """INSERT a nonce, or nothing when the same one is there (a replay: no row returned, no error).

    Built once per dialect: building it for every answer cost more than running it.
    """
    values = {
        "server_url": bindparam("server_url", type_=String),
        "timestamp": bindparam("timestamp", type_=Integer),
        "salt": bindparam("salt", type_=String),
    }
    insert = insert_with_conflicts(OpenIDNonce).values(values)
    return cast(
        Executable,
        insert.on_conflict_do_nothing(index_elements=["server_url", "timestamp", "salt"]).returning(
            OpenIDNonce.id
        ),
    )


# The association lookups, built once: building them for every answer cost more than running them.
_associations = OpenIDAssociation.__table__
NEWEST_LIVE_ASSOCIATION = (
    select(_associations)
    .where(
        _associations.c.server_url == bindparam("server_url", type_=String),
        _associations.c.expires > bindparam("now", type_=Integer),
    )
    .order_by(_associations.c.issued.desc())
)
LIVE_ASSOCIATION_WITH_HANDLE = NEWEST_LIVE_ASSOCIATION.where(
    _associations.c.handle == bindparam("handle", type_=String)
)


class DatabaseOpenIDStore(OpenIDStore):
    """Associations and nonces in the database, so replay protection spans workers."""

    def storeAssociation(self, server_url: str, association: Association) -> None:  # noqa: N802 (library API)
        """Save (or replace) an association with a provider."""
        db.session.execute(
            delete(OpenIDAssociation).where(
                OpenIDAssociation.server_url == server_url,
                OpenIDAssociation.handle == association.handle,
            )
        )
        db.session.add(
            OpenIDAssociation(
                server_url=server_url,
                handle=association.handle,
                secret=association.secret,
                issued=association.issued,
                lifetime=association.lifetime,
                assoc_type=association.assoc_type,
                expires=association.issued + association.lifetime,
            )
        )
        db.session.commit()

    def getAssociation(self, server_url: str, handle: str | None = None) -> Association | None:  # noqa: N802
        """Return the newest live association for a provider (or the one with this handle)."""
        params: dict[str, object] = {"server_url": server_url, "now": int(time.time())}
        if handle is None:
            query = NEWEST_LIVE_ASSOCIATION
        else:
            query, params["handle"] = LIVE_ASSOCIATION_WITH_HANDLE, handle
        row = db.session.execute(query, params).first()
        if row is None:
            return None
        return Association(row.handle, row.secret, row.issued, row.lifetime, row.assoc_type)

    def removeAssociation(self, server_url: str, handle: str) -> bool:  # noqa: N802
        """Forget an association; return whether one existed."""
        result = db.session.execute(
            delete(OpenIDAssociation).where(
                OpenIDAssociation.server_url == server_url, OpenIDAssociation.handle == handle
            )
        )
        db.session.commit()
        return rows_affected(result) > 0

    def useNonce(self, server_url: str, timestamp: int, salt: str) -> bool:  # noqa: N802
        """Record a nonce in the request's transaction; False when it is stale or already used (a replay).

        The caller commits it: with the sign-in the answer leads to, or on its own when the answer is
        refused. Until then the row's unique key holds back any other request recording the same
        nonce (PostgreSQL waits for this transaction, SQLite's write lock serialises the two), and
        that request's insert then affects no row once this one commits: only one of them gets True.
        """
        if abs(timestamp - time.time()) > nonce_rules.SKEW:
            return False
        statement = nonce_insert(db.engine.dialect.name)
        result = db.session.connection().execute(
            statement, {"server_url": server_url, "timestamp": timestamp, "salt": salt}
        )
        return result.first() is not None

    def cleanupNonces(self) -> int:  # noqa: N802
        """Delete nonces too old to be accepted anyway; return how many."""
        cutoff = int(time.time()) - nonce_rules.SKEW
        result = db.session.execute(delete(OpenIDNonce).where(OpenIDNonce.timestamp < cutoff))
        db.session.commit()
        return rows_affected(result)

    def cleanupAssociations(self) -> int:  # noqa: N802
        """Delete expired associations; return how many."""
        now = int(time.time())
        result = db.session.execute(delete(OpenIDAssociation).where(OpenIDAssociation.expires < now))
        db.session.commit()
        return rows_affected(result)
