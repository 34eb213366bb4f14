"""The password-spraying guard: few failed binds per account reach the directory.

The negative cache stops a script that retries *one* stale password; an attacker who
tries many *different* passwords for a colleague's name would still reach the
directory each time, and with Active Directory's lockout policy lock the colleague's
account (and their Windows login) for everyone. So before each password bind the
account takes a slot: at most ``lockout_threshold`` binds per account may be pending
or failed within ``lockout_window_seconds``, counted in the shared database so every
worker and server draws from the same budget. A bind that succeeds (or never got an
answer) gives its slot back; a refused bind keeps it until it leaves the window. A
further attempt is refused without a bind (``InvalidCredentials``, reason
``throttled``); passwords already cached as correct are never checked, so they keep
working.

The slot is taken in one short transaction that first writes the account's guard row
(a row lock on PostgreSQL/MySQL, the write lock on SQLite), so two workers cannot both
take the last slot. Once the database says "throttled", this worker remembers it in
memory until the oldest counted attempt leaves the window, so a spraying storm costs
neither binds nor database writes.

Active Directory: if the domain's own ``lockoutThreshold`` is not above ours, the
guard stays one below it (and counts over the longer of the two windows), so the
plugin never locks an account itself.
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

from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials

_logger = logging.getLogger(__name__)

THROTTLED = "throttled"


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int  # 0: the guard is off
    window_seconds: int

    def below(self, directory_threshold: int | None, directory_window: int | None):
        """This policy, tightened to stay below a directory's own lockout policy."""
        if not directory_threshold or self.threshold == 0:
            return self
        threshold = self.threshold
        if threshold >= directory_threshold:
            threshold = max(1, directory_threshold - 1)
        window = max(self.window_seconds, directory_window or 0)
        return LockoutPolicy(threshold, window)


class AttemptStore:
    """Slots in ``ldap_auth_login_attempts``, guarded by ``ldap_auth_login_accounts``."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def reserve(self, account: str, now_ms: int, policy: LockoutPolicy) -> tuple[int | None, int]:
        """(slot id or None when throttled, ms until the oldest counted attempt expires)."""
        attempts, guard = tables.login_attempts, tables.login_accounts
        window_start = now_ms - policy.window_seconds * 1000
        for attempt in range(3):
            try:
                with self.engine.begin() as connection:
                    # The write comes first: it serializes concurrent reservations of the
                    # account. An account's first attempt creates its guard row in the
                    # same transaction; two first attempts at once (PostgreSQL, MySQL)
                    # collide on the row's key and the loser tries again.
                    locked = connection.execute(
                        guard.update()
                        .where(guard.c.account == account)
                        .values(touched_at_ms=now_ms)
                    ).rowcount
                    if not locked:
                        connection.execute(
                            guard.insert().values(account=account, touched_at_ms=now_ms)
                        )
                    connection.execute(
                        attempts.delete().where(
                            attempts.c.account == account,
                            attempts.c.started_at_ms <= window_start,
                        )
                    )
                    started = [
                        row.started_at_ms
                        for row in connection.execute(
                            sa.select(attempts.c.started_at_ms).where(attempts.c.account == account)
                        )
                    ]
                    if len(started) >= policy.threshold:
                        return None, max(0, min(started) - window_start)
                    slot = connection.execute(
                        attempts.insert().values(account=account, started_at_ms=now_ms)
                    ).inserted_primary_key[0]
                    return slot, 0
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
        raise RuntimeError(f"could not take a login slot for {account!r}")  # not reached

    def release(self, slot: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                tables.login_attempts.delete().where(tables.login_attempts.c.id == slot)
            )


class _Attempt:
    refused = False


class LockoutGuard:
    """``with guard.attempt(account) as attempt: bind`` (set ``attempt.refused`` on a no)."""

    def __init__(
        self,
        policy: LockoutPolicy,
        store: AttemptStore,
        directory_policy: Callable[[], tuple[int | None, int | None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configured = policy
        self._policy: LockoutPolicy | None = None if directory_policy else policy
        self._directory_policy = directory_policy
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._throttled_until: TTLCache[str, float] = TTLCache(
            10_000, max(1, policy.window_seconds)
        )

    def policy(self) -> LockoutPolicy:
        """The effective policy; the directory's own is read once, on first need."""
        if self._policy is None:
            try:
                threshold, window = self._directory_policy()
            except DirectoryUnavailable:
                return self._configured  # read again next time
            self._policy = self._configured.below(threshold, window)
            if self._policy != self._configured:
                _logger.warning(
                    "The directory locks accounts after %s failed binds: the spraying guard "
                    "allows %s per %s s (lockout_threshold = %s)",
                    threshold,
                    self._policy.threshold,
                    self._policy.window_seconds,
                    self._configured.threshold,
                )
        return self._policy

    @contextmanager
    def attempt(self, account: str) -> Iterator[_Attempt]:
        attempt = _Attempt()
        if self._configured.threshold == 0:
            yield attempt
            return
        now = self._clock()
        with self._lock:
            until = self._throttled_until.get(account)
        if until is not None and until > now:
            raise InvalidCredentials(f"{account}: too many failed binds", reason=THROTTLED)
        policy = self.policy()
        try:
            slot, wait_ms = self._store.reserve(account, int(now * 1000), policy)
        except sa.exc.OperationalError as exc:
            raise DirectoryUnavailable(
                f"the login attempt counter in database_uri is unavailable: {exc.orig}",
                reason="attempt_store_error",
            ) from None
        if slot is None:
            with self._lock:
                self._throttled_until[account] = now + wait_ms / 1000
            raise InvalidCredentials(f"{account}: too many failed binds", reason=THROTTLED)
        try:
            yield attempt
        finally:
            if not attempt.refused:
                self._store.release(slot)
