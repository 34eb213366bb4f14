"""``ldap_auth_sessions`` in ``database_uri``: one row per browser session, shared by every
worker and server, the secret only as a hash.

Every change is one conditional ``UPDATE`` that names the state it expects, never a
read and a write back: ``touch`` writes ``last_seen_at`` only on a row that has not
ended (and at most once per ``LAST_SEEN_RESOLUTION_SECONDS``), ``end`` writes the ending
only on a row that has not ended. So a request touching a session while another worker
ends it can never bring the session back, and of two endings at once exactly one wins
(its reason stays, and only its caller writes the ``session_ended`` audit line): the
database decides (a row lock on PostgreSQL, the write lock on SQLite).

``by_hash``, the read of every request that carries a session, goes through
``DirectRead`` (one round trip on a pooled connection of a second, autocommit engine:
no ping, no transaction); if that read fails, through the engine as every other query.

Lists come in pages cut by (``created_at``, ``id``), newest first, as tokens' lists do.
Rows that ended (or expired, or went idle) more than a retention ago are deleted by
``purge``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.db.paging import iso, newest_first, page_of
from mlflow_ldap_auth.sessions.direct_read import DirectRead, Unread
from mlflow_ldap_auth.sessions.secret_format import new_secret, secret_hash

#: ``last_seen_at`` is written at most this often per session (s).
LAST_SEEN_RESOLUTION_SECONDS = 60
_SOURCE_LENGTH = 64


@dataclass(frozen=True)
class SessionRecord:
    #: The public handle; never the secret, and nothing the secret can be made from.
    id: str
    owner: str
    created_at: int
    last_seen_at: int
    expires_at: int
    password_marker: str | None
    source: str | None
    ended_at: int | None = None
    ended_reason: str | None = None
    ended_by: str | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "user": self.owner,
            "created": iso(self.created_at),
            "last_seen": iso(self.last_seen_at),
            "source": self.source,
        }

    def over(self, now: float, idle_seconds: int) -> str | None:
        """Why the session is over at ``now`` by its own times (``expired``, ``idle``)."""
        if now >= self.expires_at:
            return reasons.EXPIRED
        if now - self.last_seen_at > idle_seconds:
            return reasons.IDLE
        return None


_TABLE = tables.sessions
#: ``SessionRecord``'s fields in their order: a row of them is ``SessionRecord(*row)``.
_COLUMNS = tuple(
    _TABLE.c[name]
    for name in (
        "id",
        "owner",
        "created_at",
        "last_seen_at",
        "expires_at",
        "password_marker",
        "source",
        "ended_at",
        "ended_reason",
        "ended_by",
    )
)
_BY_HASH = sa.select(*_COLUMNS).where(_TABLE.c.secret_hash == sa.bindparam("secret_hash"))


def _record(row) -> SessionRecord:
    return SessionRecord(*row)


def _owned_by(owner: str):
    # Owners are directory names, which match in any case (as logins and tokens do).
    return sa.func.lower(_TABLE.c.owner) == owner.strip().lower()


def _active(now: int, idle_seconds: int):
    return sa.and_(
        _TABLE.c.ended_at.is_(None),
        _TABLE.c.expires_at > now,
        _TABLE.c.last_seen_at >= now - idle_seconds,
    )


class SessionStore:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self._by_hash = DirectRead(engine, _BY_HASH)

    def create(
        self,
        owner: str,
        *,
        source: str | None,
        password_marker: str | None,
        now: int,
        max_seconds: int,
    ) -> tuple[SessionRecord, str]:
        """A new session and its secret: the secret is returned here once, never stored."""
        secret = new_secret()
        record = SessionRecord(
            id=secrets.token_hex(16),
            owner=owner,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_seconds,
            password_marker=password_marker,
            source=source[:_SOURCE_LENGTH] if source else None,
        )
        with self.engine.begin() as connection:
            connection.execute(
                _TABLE.insert().values(
                    id=record.id,
                    owner=record.owner,
                    secret_hash=secret_hash(secret),
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    expires_at=record.expires_at,
                    password_marker=record.password_marker,
                    source=record.source,
                )
            )
        return record, secret

    def by_hash(self, digest: str) -> SessionRecord | None:
        try:
            row = self._by_hash.first(digest)
        except Unread:
            with self.engine.connect() as connection:
                row = connection.execute(_BY_HASH, {"secret_hash": digest}).first()
        return None if row is None else _record(row)

    def by_id(self, session_id: str) -> SessionRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(*_COLUMNS).where(_TABLE.c.id == session_id)).first()
        return None if row is None else _record(row)

    def touch(self, session_id: str, now: int) -> bool:
        """Record a request; skipped when the last is recent or the session has ended."""
        with self.engine.begin() as connection:
            return bool(
                connection.execute(
                    _TABLE.update()
                    .where(
                        _TABLE.c.id == session_id,
                        _TABLE.c.ended_at.is_(None),
                        _TABLE.c.last_seen_at <= now - LAST_SEEN_RESOLUTION_SECONDS,
                    )
                    .values(last_seen_at=now)
                ).rowcount
            )

    def end(self, session_id: str, reason: str, by: str | None, now: int) -> bool:
        """End one session; True if this call ended it (False: unknown or ended already)."""
        with self.engine.begin() as connection:
            return self._end(connection, session_id, reason, by, now)

    @staticmethod
    def _end(connection, session_id: str, reason: str, by: str | None, now: int) -> bool:
        return bool(
            connection.execute(
                _TABLE.update()
                .where(_TABLE.c.id == session_id, _TABLE.c.ended_at.is_(None))
                .values(ended_at=now, ended_reason=reason, ended_by=by)
            ).rowcount
        )

    def end_all(self, owner: str, reason: str, by: str | None, now: int) -> list[SessionRecord]:
        """End every session of ``owner`` (any case) not ended yet; those this call ended."""
        with self.engine.begin() as connection:
            rows = connection.execute(
                sa.select(*_COLUMNS).where(_owned_by(owner), _TABLE.c.ended_at.is_(None))
            ).all()
            return [_record(row) for row in rows if self._end(connection, row.id, reason, by, now)]

    def page(
        self,
        owner: str | None,
        *,
        now: int,
        idle_seconds: int,
        after: tuple[int, str] | None = None,
        size: int = 100,
    ) -> tuple[list[SessionRecord], str | None]:
        """Active sessions of ``owner`` (everyone's if None), newest first, one page
        after the row ``after``; and the next page's token or None."""
        query = sa.select(*_COLUMNS).where(_active(now, idle_seconds))
        if owner is not None:
            query = query.where(_owned_by(owner))
        with self.engine.connect() as connection:
            rows = connection.execute(newest_first(query, _TABLE, after, size))
            return page_of([_record(row) for row in rows], size)

    def purge(self, before: int, idle_seconds: int) -> int:
        """Delete the sessions over (ended, expired or idle) before ``before``; how many."""
        with self.engine.begin() as connection:
            return connection.execute(
                _TABLE.delete().where(
                    sa.or_(
                        _TABLE.c.ended_at < before,
                        _TABLE.c.expires_at < before,
                        _TABLE.c.last_seen_at < before - idle_seconds,
                    )
                )
            ).rowcount
