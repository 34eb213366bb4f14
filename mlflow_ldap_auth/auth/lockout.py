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

The slot is counted in the shared database (``auth.attempt_store``, one short
transaction that locks the account's guard row, so two workers cannot both take the
last slot). Once the database says "throttled", this worker remembers it in
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

import sqlalchemy as sa
from cachetools import TTLCache

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.attempt_store import (
    KEPT_FAILURES_SECONDS,
    OVERFLOW_ACCOUNT,
    AttemptStore,
    LockoutPolicy,
    Slot,
)
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.binding import THROTTLED
from mlflow_ldap_auth.ldap.lockout_policies import DirectoryLockout

_logger = logging.getLogger(__name__)

__all__ = [
    "KEPT_FAILURES_SECONDS",
    "MAX_ACCOUNTS",
    "OVERFLOW_ACCOUNT",
    "THROTTLED",
    "AttemptStore",
    "LockoutGuard",
    "LockoutPolicy",
    "Slot",
]

#: Accounts with a guard row of their own; past it, new accounts share ``OVERFLOW_ACCOUNT``.
MAX_ACCOUNTS = 100_000
PURGE_INTERVAL_SECONDS = 60
#: A worker counts the guard rows again after it created this many (fewer under a small cap).
RECOUNT_AFTER = 1_000


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
