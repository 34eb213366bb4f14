"""The spraying guard's budget and its counters in the shared database.

``LockoutPolicy`` is the budget of one account (``lockout_threshold`` binds pending or
failed within ``lockout_window_seconds``, tightened below the directory's own policy);
``AttemptStore`` keeps the slots in ``ldap_auth_login_attempts``, guarded by a row of
``ldap_auth_login_accounts`` per account, so every worker and server draws from the same
budget. The slot is taken in one short transaction that first writes the account's guard row
(a row lock on PostgreSQL/MySQL, the write lock on SQLite), so two workers cannot both
take the last slot; that transaction runs on the connections of ``db.autocommit``,
without the pool's ping (``Autocommit.transaction``). Giving a slot back, or forgetting
an account's failures, is one statement that may run twice without harm, so it runs
alone in autocommit: one round trip on PostgreSQL, not a transaction's four. ``purge``
deletes expired attempts and unused guard rows in bounded chunks; the cap on guard
rows (``OVERFLOW_ACCOUNT``) is applied by the guard (``auth.lockout``), which decides
when to take a slot and when to purge. The cut is between the SQL and the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mlflow_ldap_auth.db import autocommit, tables
from mlflow_ldap_auth.ldap.lockout_policies import DirectoryLockout

#: How long failures are counted where the directory keeps them until a successful bind.
KEPT_FAILURES_SECONDS = 86_400
OVERFLOW_ACCOUNT = "(overflow)"
PURGE_CHUNK = 1_000
#: A guard row without attempts is deleted once untouched this long.
IDLE_ACCOUNT_MS = 60_000


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int  # 0: the guard is off
    window_seconds: int
    #: The directory keeps failures until a successful bind: a success forgets them.
    until_success: bool = False

    def below(self, directory: DirectoryLockout | None) -> LockoutPolicy:
        """This policy, tightened to stay below a directory's own lockout policy."""
        if directory is None or self.threshold == 0:
            return self
        threshold = min(self.threshold, max(1, directory.threshold - 1))
        if directory.window_seconds is None:
            return LockoutPolicy(threshold, max(self.window_seconds, KEPT_FAILURES_SECONDS), True)
        return LockoutPolicy(threshold, max(self.window_seconds, directory.window_seconds))


@dataclass(frozen=True)
class Slot:
    id: int
    #: The account it counts for (``OVERFLOW_ACCOUNT`` past the cap).
    account: str
    #: Whether this reservation created the account's guard row.
    new_account: bool


class AttemptStore:
    """Slots in ``ldap_auth_login_attempts``, guarded by ``ldap_auth_login_accounts``."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self._alone = autocommit.of(engine)

    def reserve(
        self, account: str, now_ms: int, policy: LockoutPolicy, full: bool = False
    ) -> tuple[Slot | None, int]:
        """(the slot, or None when throttled; ms until the oldest counted attempt expires).

        ``full``: the guard rows are at their cap and ``account`` is a name anybody could
        make up, so without a row of its own it counts under ``OVERFLOW_ACCOUNT``.
        Without the pool's ping (``Autocommit.transaction``): if the connection fails,
        the reservation is made again through the plugin's engine.
        """
        return self._alone.transaction(
            lambda begin: self._reserve(begin, account, now_ms, policy, full)
        )

    def _reserve(
        self, begin: autocommit.Begin, account: str, now_ms: int, policy: LockoutPolicy, full: bool
    ) -> tuple[Slot | None, int]:
        attempts = tables.login_attempts
        for attempt in range(3):
            try:
                with begin() as connection:
                    # The write comes first: it serializes concurrent reservations of the
                    # account. An account's first attempt creates its guard row in the
                    # same transaction; two first attempts at once (PostgreSQL, MySQL)
                    # collide on the row's key and the loser tries again.
                    counted, created = self._lock_row(connection, account, now_ms, full)
                    expiries = self._unexpired(connection, counted, now_ms)
                    if len(expiries) >= policy.threshold:
                        return None, max(0, min(expiries) - now_ms)
                    slot = connection.execute(
                        attempts.insert().values(
                            account=counted,
                            started_at_ms=now_ms,
                            expires_at_ms=now_ms + policy.window_seconds * 1000,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]  # one row: always set
                    return Slot(slot, counted, created), 0
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
        raise RuntimeError(f"could not take a login slot for {account!r}")  # not reached

    @staticmethod
    def _unexpired(connection, account: str, now_ms: int) -> list[int]:
        """The expiries of ``account``'s counted attempts; the expired ones deleted (a
        statement only when there are some: at a person's login there are none)."""
        attempts = tables.login_attempts
        expiries = list(
            connection.scalars(
                sa.select(attempts.c.expires_at_ms).where(attempts.c.account == account)
            )
        )
        if any(expiry <= now_ms for expiry in expiries):
            connection.execute(
                attempts.delete().where(
                    attempts.c.account == account, attempts.c.expires_at_ms <= now_ms
                )
            )
        return [expiry for expiry in expiries if expiry > now_ms]

    @staticmethod
    def _lock_row(connection, account: str, now_ms: int, full: bool) -> tuple[str, bool]:
        """Touch (lock) the guard row the attempt counts under: (its account, created?)."""
        guard = tables.login_accounts
        for key in (account, OVERFLOW_ACCOUNT):
            touched = connection.execute(
                guard.update().where(guard.c.account == key).values(touched_at_ms=now_ms)
            ).rowcount
            if touched:
                return key, False
            if not full or key == OVERFLOW_ACCOUNT:
                connection.execute(guard.insert().values(account=key, touched_at_ms=now_ms))
                return key, True
        raise AssertionError("not reached")

    def release(self, slot: Slot) -> None:
        """Give the slot back (its row deleted by key: harmless twice)."""
        self._alone.write(lambda engine: _delete(engine, tables.login_attempts.c.id == slot.id))

    def forget(self, account: str) -> None:
        """Forget every counted failure of ``account`` (a successful bind, where the
        directory forgets them too)."""
        self._alone.write(
            lambda engine: _delete(engine, tables.login_attempts.c.account == account)
        )

    def accounts(self, limit: int) -> int:
        """How many guard rows there are, counted up to ``limit``."""
        guard = tables.login_accounts
        with self.engine.connect() as connection:
            rows = sa.select(guard.c.account).limit(limit).subquery()
            return connection.execute(sa.select(sa.func.count()).select_from(rows)).scalar() or 0

    def purge(self, now_ms: int, chunk: int = PURGE_CHUNK) -> int:
        """Delete up to ``chunk`` expired attempts and ``chunk`` unused guard rows."""
        attempts, guard = tables.login_attempts, tables.login_accounts
        expired = attempts.c.expires_at_ms <= now_ms
        unused = sa.and_(
            guard.c.touched_at_ms <= now_ms - IDLE_ACCOUNT_MS,
            ~sa.exists().where(attempts.c.account == guard.c.account),
        )
        return self._delete_some(attempts, attempts.c.id, expired, chunk) + self._delete_some(
            guard, guard.c.account, unused, chunk
        )

    def _delete_some(self, table: sa.Table, key: sa.Column, condition, chunk: int) -> int:
        """Delete up to ``chunk`` rows of ``table`` that meet ``condition``.

        Chosen first, then deleted by key with the condition again: bounded work that
        every database runs alike, and harmless when another worker got there first.
        """
        with self.engine.connect() as connection:
            keys = list(connection.scalars(sa.select(key).where(condition).limit(chunk)))
        if not keys:
            return 0
        with self.engine.begin() as connection:
            return connection.execute(table.delete().where(key.in_(keys), condition)).rowcount


def _delete(engine: sa.engine.Engine, condition) -> None:
    """Delete the attempts that meet ``condition``, in a transaction of its own."""
    with engine.begin() as connection:
        connection.execute(tables.login_attempts.delete().where(condition))
