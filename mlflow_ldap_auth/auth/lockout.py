"""The password-spraying guard: few failed binds per account reach the directory.

The negative cache stops a script that retries *one* stale password; an attacker who
tries many *different* passwords for a colleague's name would still reach the
directory each time, and with a lockout policy (Active Directory, OpenLDAP ppolicy)
lock the colleague's account (and their Windows login) for everyone. So before each
password bind the account takes a slot: at most ``lockout_threshold`` binds per account
may be pending or failed within ``lockout_window_seconds``, counted in the shared
database so every worker and server draws from the same budget. A bind that succeeds
(or never got an answer) gives its slot back; a refused bind keeps it until it
expires. A further attempt is refused without a bind (``InvalidCredentials``, reason
``throttled``); passwords already cached as correct are never checked, so they keep
working.

The account is the directory *entry* (``ldap.account_key``): every spelling the
directory binds as the same entry shares one budget. The directory's own policy for
that account (``ldap.lockout_policies``) is handed in with each attempt: the guard
stays one below its threshold and counts over the longer of the two windows, so the
plugin never locks an account itself. Where the directory keeps failures until a
successful bind, the guard keeps them up to ``KEPT_FAILURES_SECONDS`` and forgets them
at a successful bind, as the directory does.

The slot is taken in one short transaction that first writes the account's guard row
(a row lock on PostgreSQL/MySQL, the write lock on SQLite), so two workers cannot both
take the last slot. Once the database says "throttled", this worker remembers it in
memory until the oldest counted attempt expires, so a spraying storm costs neither
binds nor database writes.

Bounds: each attempt row carries its expiry; every ``PURGE_INTERVAL_SECONDS`` a worker
deletes up to ``PURGE_CHUNK`` expired attempts and unused guard rows (any worker may,
deleting twice is harmless). At most ``MAX_ACCOUNTS`` accounts have a row of their
own, plus what each worker creates before it counts again (``RECOUNT_AFTER``): past
it, a name without one draws from one shared budget (``OVERFLOW_ACCOUNT``) until the
purge makes room. Entries the service account's search found (``found``: real people,
whose number the directory bounds) always get a row of their own, so a flood of made-up
names can neither grow the tables without bound, nor push out the counters of the
accounts already counted, nor use up the budget of a person's login: with
search-then-bind, a person's fresh login is never throttled by somebody else's
failures. With direct bind no entry is read before the bind, so every name is one
anybody can make up: past the cap, names new to the guard share the budget and may wait
with their first fresh login while a flood lasts.

Unexpired attempts are at most the threshold per guard row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from cachetools import TTLCache

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.binding import THROTTLED
from mlflow_ldap_auth.ldap.lockout_policies import DirectoryLockout

_logger = logging.getLogger(__name__)

__all__ = ["THROTTLED", "AttemptStore", "LockoutGuard", "LockoutPolicy", "Slot"]

#: How long failures are counted where the directory keeps them until a successful bind.
KEPT_FAILURES_SECONDS = 86_400
#: Accounts with a guard row of their own; past it, new accounts share ``OVERFLOW_ACCOUNT``.
MAX_ACCOUNTS = 100_000
OVERFLOW_ACCOUNT = "(overflow)"
PURGE_INTERVAL_SECONDS = 60
PURGE_CHUNK = 1_000
#: A guard row without attempts is deleted once untouched this long.
IDLE_ACCOUNT_MS = 60_000
#: A worker counts the guard rows again after it created this many (fewer under a small cap).
RECOUNT_AFTER = 1_000


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

    def reserve(
        self, account: str, now_ms: int, policy: LockoutPolicy, full: bool = False
    ) -> tuple[Slot | None, int]:
        """(the slot, or None when throttled; ms until the oldest counted attempt expires).

        ``full``: the guard rows are at their cap and ``account`` is a name anybody could
        make up, so without a row of its own it counts under ``OVERFLOW_ACCOUNT``.
        """
        attempts = tables.login_attempts
        for attempt in range(3):
            try:
                with self.engine.begin() as connection:
                    # The write comes first: it serializes concurrent reservations of the
                    # account. An account's first attempt creates its guard row in the
                    # same transaction; two first attempts at once (PostgreSQL, MySQL)
                    # collide on the row's key and the loser tries again.
                    counted, created = self._lock_row(connection, account, now_ms, full)
                    connection.execute(
                        attempts.delete().where(
                            attempts.c.account == counted, attempts.c.expires_at_ms <= now_ms
                        )
                    )
                    expiries = [
                        row.expires_at_ms
                        for row in connection.execute(
                            sa.select(attempts.c.expires_at_ms).where(attempts.c.account == counted)
                        )
                    ]
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
        with self.engine.begin() as connection:
            connection.execute(
                tables.login_attempts.delete().where(tables.login_attempts.c.id == slot.id)
            )

    def forget(self, account: str) -> None:
        """Forget every counted failure of ``account`` (a successful bind, where the
        directory forgets them too)."""
        with self.engine.begin() as connection:
            connection.execute(
                tables.login_attempts.delete().where(tables.login_attempts.c.account == account)
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


class _Attempt:
    refused = False


class LockoutGuard:
    """``with guard.attempt(account, lockout) as attempt: bind`` (set ``attempt.refused``
    on a no); ``lockout`` is the directory's own policy for the account, if any."""

    def __init__(
        self,
        policy: LockoutPolicy,
        store: AttemptStore,
        clock: Callable[[], float] = time.time,
        max_accounts: int = MAX_ACCOUNTS,
    ) -> None:
        self._configured = policy
        self._store = store
        self._clock = clock
        self._max_accounts = max_accounts
        self._recount_after = max(1, min(RECOUNT_AFTER, max_accounts // 100))
        self._lock = threading.Lock()
        self._throttled_until: TTLCache[str, float] = TTLCache(
            10_000, max(1, policy.window_seconds)
        )
        self._tightened: set[DirectoryLockout] = set()
        self._next_purge = 0.0
        self._created = 0
        self._full = False

    def policy(self, directory: DirectoryLockout | None = None) -> LockoutPolicy:
        """The policy for an account the directory locks by ``directory`` (None: no lockout)."""
        policy = self._configured.below(directory)
        if policy != self._configured and directory not in self._tightened:
            assert directory is not None  # only a directory's policy tightens the configured one
            with self._lock:
                self._tightened.add(directory)
            _logger.warning(
                "The directory locks accounts after %s failed binds (%s): the spraying guard "
                "allows %s per %s s to them (lockout_threshold = %s)",
                directory.threshold,
                directory.source,
                policy.threshold,
                policy.window_seconds,
                self._configured.threshold,
            )
        return policy

    @contextmanager
    def attempt(
        self, account: str, directory: DirectoryLockout | None = None, found: bool = False
    ) -> Iterator[_Attempt]:
        """A slot for one password bind of ``account``; ``found``: an entry the search
        found, which counts on a row of its own even past the cap."""
        attempt = _Attempt()
        if self._configured.threshold == 0:
            yield attempt
            return
        now = self._clock()
        with self._lock:
            until = self._throttled_until.get(account)
        if until is not None and until > now:
            raise InvalidCredentials(f"{account}: too many failed binds", reason=THROTTLED)
        policy = self.policy(directory)
        try:
            self._keep_bounded(now)
            full = self._full and not found
            slot, wait_ms = self._store.reserve(account, int(now * 1000), policy, full)
        except sa.exc.OperationalError as exc:
            raise DirectoryUnavailable(
                f"the login attempt counter in database_uri is unavailable: {exc.orig}",
                reason=reasons.ATTEMPT_STORE_ERROR,
            ) from None
        if slot is None:
            with self._lock:
                self._throttled_until[account] = now + wait_ms / 1000
            raise InvalidCredentials(f"{account}: too many failed binds", reason=THROTTLED)
        if slot.new_account:
            with self._lock:
                self._created += 1
        succeeded = False
        try:
            yield attempt
            succeeded = not attempt.refused
        finally:
            if not attempt.refused:
                self._store.release(slot)
            if succeeded and policy.until_success and slot.account == account:
                self._store.forget(account)

    def _keep_bounded(self, now: float) -> None:
        """Purge now and then, and count the guard rows after many were created."""
        with self._lock:
            due = now >= self._next_purge or self._created >= self._recount_after
            if due:
                self._next_purge = now + PURGE_INTERVAL_SECONDS
                self._created = 0
        if not due:
            return
        self._store.purge(int(now * 1000))
        full = self._store.accounts(self._max_accounts) >= self._max_accounts
        if full and not self._full:
            _logger.warning(
                "The spraying guard counts %s accounts, its cap: names new to it that no "
                "entry was found for share one budget until old counts expire (a flood of "
                "made-up login names?)",
                self._max_accounts,
            )
        self._full = full
