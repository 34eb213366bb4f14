"""``ldap_auth_tokens`` in ``database_uri``: one row per token, the secret only as a hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from mlflow_ldap_auth.db import tables

#: ``last_used`` is written at most this often per token (s).
LAST_USED_RESOLUTION_SECONDS = 60


def iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    def add(
        self, owner: str, name: str, secret_hash: str, now: int, expires_at: int
    ) -> TokenRecord:
        record = TokenRecord(secrets.token_hex(8), owner, name, now, expires_at, None, None)
        with self.engine.begin() as connection:
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

    def count_active(self, owner: str, now: int) -> int:
        table = tables.tokens
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(sa.func.count()).where(
                    table.c.owner == owner, table.c.revoked_at.is_(None), table.c.expires_at > now
                )
            ).scalar_one()

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
