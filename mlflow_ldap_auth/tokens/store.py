"""``ldap_auth_tokens`` in ``database_uri``: one row per token, the secret only as a hash.

A creation (``add_within``) first writes the owner's guard row in
``ldap_auth_token_owners`` (a row lock on PostgreSQL, the write lock on SQLite), then
counts and inserts in the same transaction: concurrent creations of one user, on any
worker or server sharing the database, take turns, so the active-token limit and the
creation rates hold exactly. The rates are counted from the rows' ``created_at``
(revoked tokens count too: creating and revoking is still creating).

Lists come in pages cut by (``created_at``, ``id``), newest first, not by offset: a
page token names the last row shown (``page_token``), so paging while tokens are made
neither repeats nor skips one. Tokens that ended (revoked or expired) more than the
retention ago are deleted (``purge_ended``).
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.db.paging import iso, newest_first, page_of

#: ``last_used`` is written at most this often per token (s).
LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class CreationLimits:
    """How many tokens one user may have and make."""

    max_active: int
    #: (window in seconds, most creations within it), e.g. ``((60, 20), (86_400, 200))``.
    rates: tuple[tuple[int, int], ...] = ()


class LimitReached(Exception):
    """A creation refused by ``CreationLimits`` (nothing was written)."""

    def __init__(self, limit: int, window: int | None = None, retry_after: int = 0) -> None:
        kind = "active tokens" if window is None else f"creations per {window} s"
        super().__init__(f"{limit} {kind}")
        self.limit = limit
        #: None: the active-token limit; else the rate's window (s).
        self.window = window
        #: Seconds until a rate allows a creation again (0 for the active limit).
        self.retry_after = retry_after


@dataclass(frozen=True)
class TokenRecord:
    id: str
    owner: str
    name: str
    created_at: int
    expires_at: int
    last_used_at: int | None
    revoked_at: int | None
    revoked_by: str | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "user": self.owner,
            "created": iso(self.created_at),
            "expires": iso(self.expires_at),
            "last_used": iso(self.last_used_at),
            "revoked": iso(self.revoked_at),
        }

    def is_active(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def state(self, now: float) -> str:
        """``active``, ``expired`` or ``revoked``, as lists show it."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_active(now) else "expired"


_COLUMNS = (
    tables.tokens.c.id,
    tables.tokens.c.owner,
    tables.tokens.c.name,
    tables.tokens.c.created_at,
    tables.tokens.c.expires_at,
    tables.tokens.c.last_used_at,
    tables.tokens.c.revoked_at,
    tables.tokens.c.revoked_by,
)


def _record(row) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.owner,
        row.name,
        row.created_at,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
        row.revoked_by,
    )


class TokenStore:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def add_within(
        self,
        owner: str,
        name: str,
        secret_hash: str,
        now: int,
        expires_at: int,
        limits: CreationLimits,
    ) -> TokenRecord:
        """Insert a token unless ``limits`` forbid it (``LimitReached``); see the docstring."""
        record = TokenRecord(secrets.token_hex(8), owner, name, now, expires_at, None, None)
        for attempt in range(3):
            try:
                with self.engine.begin() as connection:
                    self._take_turn(connection, owner, now)
                    self._check(connection, owner, now, limits)
                    connection.execute(
                        tables.tokens.insert().values(
                            id=record.id,
                            owner=owner,
                            name=name,
                            secret_hash=secret_hash,
                            created_at=now,
                            expires_at=expires_at,
                        )
                    )
                return record
            except sa.exc.IntegrityError:
                # Two first creations of one owner (PostgreSQL): both inserted the guard
                # row; the loser tries again and now waits on the winner's row lock.
                if attempt == 2:
                    raise
        raise RuntimeError(f"could not create a token for {owner!r}")  # not reached

    @staticmethod
    def _take_turn(connection, owner: str, now: int) -> None:
        """Write the owner's guard row first: concurrent creations of ``owner`` queue here."""
        guard = tables.token_owners
        locked = connection.execute(
            guard.update().where(guard.c.owner == owner).values(touched_at=now)
        ).rowcount
        if not locked:
            connection.execute(guard.insert().values(owner=owner, touched_at=now))

    @staticmethod
    def _check(connection, owner: str, now: int, limits: CreationLimits) -> None:
        table = tables.tokens
        active = connection.execute(
            sa.select(sa.func.count()).where(
                table.c.owner == owner, table.c.revoked_at.is_(None), table.c.expires_at > now
            )
        ).scalar_one()
        refusals = []
        for window, most in limits.rates:
            count, oldest = connection.execute(
                sa.select(sa.func.count(), sa.func.min(table.c.created_at)).where(
                    table.c.owner == owner, table.c.created_at > now - window
                )
            ).one()
            if count >= most:
                refusals.append(LimitReached(most, window, max(1, oldest + window - now)))
        if refusals:
            raise max(refusals, key=lambda refusal: refusal.retry_after)
        if active >= limits.max_active:
            raise LimitReached(limits.max_active)

    def by_hash(self, secret_hash: str) -> TokenRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(*_COLUMNS).where(tables.tokens.c.secret_hash == secret_hash)
            ).first()
        return None if row is None else _record(row)

    def by_id(self, token_id: str) -> TokenRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(*_COLUMNS).where(tables.tokens.c.id == token_id)
            ).first()
        return None if row is None else _record(row)

    def list(self, owner: str | None = None) -> list[TokenRecord]:
        """Tokens of ``owner`` (any case; everyone's if None), newest first."""
        query = sa.select(*_COLUMNS).order_by(tables.tokens.c.created_at.desc(), tables.tokens.c.id)
        if owner is not None:
            # Owners are directory names, which match in any case (as logins do).
            query = query.where(sa.func.lower(tables.tokens.c.owner) == owner.strip().lower())
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query)]

    def page(
        self, owner: str | None, after: tuple[int, str] | None, size: int
    ) -> tuple[builtins.list[TokenRecord], str | None]:
        """One page of ``list`` after the row ``after``; the next page's token or None."""
        table = tables.tokens
        query = sa.select(*_COLUMNS)
        if owner is not None:
            query = query.where(sa.func.lower(table.c.owner) == owner.strip().lower())
        with self.engine.connect() as connection:
            rows = connection.execute(newest_first(query, table, after, size))
            return page_of([_record(row) for row in rows], size)

    def purge_ended(self, before: int) -> int:
        """Delete the tokens revoked or expired before ``before`` (epoch s); how many."""
        table = tables.tokens
        with self.engine.begin() as connection:
            return connection.execute(
                table.delete().where(
                    sa.or_(table.c.revoked_at < before, table.c.expires_at < before)
                )
            ).rowcount

    def revoke(self, token_id: str, by: str, now: int) -> TokenRecord | None:
        table = tables.tokens
        with self.engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.id == token_id, table.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=by)
            )
        return self.by_id(token_id)

    def touch(self, token_id: str, now: int) -> None:
        """Record a use (skipped in the database when the last one is recent)."""
        table = tables.tokens
        with self.engine.begin() as connection:
            connection.execute(
                table.update()
                .where(
                    table.c.id == token_id,
                    sa.or_(
                        table.c.last_used_at.is_(None),
                        table.c.last_used_at <= now - LAST_USED_RESOLUTION_SECONDS,
                    ),
                )
                .values(last_used_at=now)
            )
