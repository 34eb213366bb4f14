"""One check of claimed users against the directory, and what its rows mean here.

The part of revalidation (``auth.revalidation``; docs/tokens.md#when-someone-leaves)
that asks the directory: a batched look-up (``Directory.lookup_many``, retried user by
user when a batch fails while the directory answers, postponed on an outage), the
verdict of each answer (gone, not allowed, a re-sync like a login's), its
``user_revalidated`` audit line, the rows written in one transaction, and the cached
passwords of this worker those rows evict. ``RevalidationChecks`` holds the worker's
state the request path (``revalidation_requests``) and the background round
(``revalidation``) build on; the cut is between asking the directory and deciding
when to ask.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from cachetools import TTLCache

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.admission import NOT_IN_ALLOWED_GROUPS, Admission
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.auth.user_checks import (
    CHECK_FAILED,
    UNCHECKED,
    CheckRecord,
    UserChecks,
)
from mlflow_ldap_auth.errors import DirectoryUnavailable, NotAllowed, SearchRefused
from mlflow_ldap_auth.ldap.account_state import OK
from mlflow_ldap_auth.ldap.entries import DirectoryUser

#: The logger of the module this code was cut from: its log lines keep their name.
_logger = logging.getLogger("mlflow_ldap_auth.auth.revalidation")

GONE = reasons.GONE
NOT_ALLOWED = reasons.NOT_ALLOWED
#: How long a worker reuses a row it read (s): revalidation results and token
#: refusals reach every worker within this plus one tick.
STATUS_TTL_SECONDS = 5.0
#: After a check of a user got no verdict, wait this long before asking again.
RETRY_SECONDS = 10.0
#: How long a request waits for another worker's check of the same user (s): far
#: longer than a check takes while the directory answers; past it, it checks itself.
CLAIM_WAIT_SECONDS = 5.0
_UNSEEN = object()
#: Users checked with one batched directory look-up (``Directory.lookup_many``).
BATCH_SIZE = 50


def tick_seconds(interval_seconds: int) -> float:
    """How often a worker reads its active users' rows and checks the due ones."""
    return max(1.0, min(5.0, interval_seconds / 10))


class _Check:
    """A check of one user under way in this worker, for the requests that need it."""

    def __init__(self, row: CheckRecord | None) -> None:
        #: The row as it was until the check gives a new one.
        self.row = row
        self.done = threading.Event()


class RevalidationChecks:
    """Per worker: the state of revalidation and the checks of claimed users."""

    def __init__(
        self,
        *,
        interval_seconds: int,
        grace_seconds: int,
        lookup: Callable[[str], DirectoryUser | None],
        lookup_many: Callable[[list[str]], dict[str, DirectoryUser | None]] | None = None,
        checks: UserChecks,
        admission: Admission,
        cache: CredentialCache[Principal],
        is_directory_user: Callable[[Principal], bool],
        max_users: int = 100_000,
        clock: Callable[[], float] = time.time,
        claim_wait_seconds: float = CLAIM_WAIT_SECONDS,
    ) -> None:
        self.interval = interval_seconds
        self.grace = grace_seconds
        self._lookup_many = lookup_many or (lambda names: {name: lookup(name) for name in names})
        self._checks = checks
        self._admission = admission
        self._cache = cache
        self._is_directory_user = is_directory_user
        self._clock = clock
        self._lock = threading.Lock()
        #: Users whose tokens or sessions this worker served within the interval.
        self._credential_users: TTLCache[str, bool] = TTLCache(
            max_users, interval_seconds, timer=clock
        )
        self._rows: TTLCache[str, CheckRecord] = TTLCache(
            max_users, STATUS_TTL_SECONDS, timer=clock
        )
        #: The password marker this worker last saw per user (None: the entry has none).
        self._markers: TTLCache[str, str | None] = TTLCache(
            max_users, 3 * interval_seconds, timer=clock
        )
        self._failed_at: TTLCache[str, float] = TTLCache(max_users, RETRY_SECONDS, timer=clock)
        #: Checks made for requests, under way in this worker, by username.
        self._checks_under_way: dict[str, _Check] = {}
        self._claim_wait = claim_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Directory look-ups this worker made for revalidation (status API, tests).
        self.checks_made = 0

    def _postpone(self, usernames: list[str], error: Exception) -> None:
        """The directory could not answer: claims given back, rows as they are."""
        _logger.warning("Revalidation of %s postponed: %s", sorted(usernames), error)
        self._retry_later(usernames)
        self._checks.release_many(usernames)

    def _retry_later(self, usernames: list[str]) -> None:
        now = self._clock()
        with self._lock:
            for username in usernames:
                self._failed_at[username] = now

    def _look_up(self, usernames: list[str]) -> tuple[dict[str, DirectoryUser | None], list[str]]:
        """The directory's answers (None: no such user), and the users whose look-up
        failed while the directory answered; a user in neither was postponed.

        An outage postpones the users without an answer yet (``_postpone``). Any other
        error of a batch is retried user by user, so one entry that cannot be read (or
        a bug it triggers) does not hold back the others' verdicts.
        """
        try:
            found = self._lookup_many(usernames)
            return {name: found.get(name) for name in usernames}, []
        except SearchRefused as error:
            _logger.warning("Revalidation of %s failed: %s", sorted(usernames), error)
        except DirectoryUnavailable as error:
            self._postpone(usernames, error)
            return {}, []
        except Exception:
            _logger.exception("Revalidation of %s failed", sorted(usernames))
        if len(usernames) == 1:
            return {}, list(usernames)
        answers: dict[str, DirectoryUser | None] = {}
        failed = []
        for index, username in enumerate(usernames):
            try:
                answers[username] = self._lookup_many([username]).get(username)
            except SearchRefused as error:
                _logger.warning("Revalidation of %r failed: %s", username, error)
                failed.append(username)
            except DirectoryUnavailable as error:
                self._postpone(usernames[index:], error)
                break
            except Exception:
                _logger.exception("Revalidation of %r failed", username)
                failed.append(username)
        return answers, failed

    def _decide(
        self, username: str, user: DirectoryUser | None, previous: CheckRecord | None
    ) -> tuple[CheckRecord, bool]:
        """What the directory's answer means (and the re-sync of a usable account)."""
        now = int(self._clock())
        changed = False
        marker = previous.password_marker if previous else None
        if user is None:
            status = GONE
        else:
            marker = user.account.password_marker
            status = user.account.status
            if status == OK:
                try:
                    changed = self._admission.admit(user, None).changed
                except NotAllowed as exc:
                    status = NOT_ALLOWED if exc.reason == NOT_IN_ALLOWED_GROUPS else exc.reason
        return CheckRecord(username, now, status, marker), changed

    def _apply(self, rows: dict[str, CheckRecord]) -> None:
        """What the rows mean for this worker: evict cached passwords that must go."""
        doomed = set()
        with self._lock:
            for username, row in rows.items():
                self._rows[username] = row
                seen = self._markers.get(username, _UNSEEN)
                if row.status not in (OK, UNCHECKED) or (
                    seen is not _UNSEEN and row.password_marker != seen
                ):
                    doomed.add(username)
                if row.status != UNCHECKED:
                    self._markers[username] = row.password_marker
        if doomed:
            evicted = self._cache.evict(lambda principal: principal.username in doomed)
            if evicted:
                _logger.info("Evicted %s cached password(s) of %s", evicted, sorted(doomed))

    def _check_batch(
        self, usernames: list[str], rows: dict[str, CheckRecord]
    ) -> dict[str, CheckRecord]:
        """One directory look-up, one transaction of results for a batch of claimed users.

        Returns the new rows: a verdict, or ``check_failed`` for a user whose look-up
        or re-sync failed while the directory answered; none for a user postponed by an
        outage (the claim is given back, the row stays).
        """
        self.checks_made += len(usernames)
        users, failed = self._look_up(usernames)
        decided: list[tuple[CheckRecord, bool]] = []
        for username in usernames:
            if username not in users:
                continue
            try:
                decided.append(self._decide(username, users[username], rows.get(username)))
            except Exception:
                # One user's failure (e.g. MLflow's store) must not stop the round.
                _logger.exception("Revalidation of %r failed", username)
                failed.append(username)
        self._checks.record_many(
            [(row.username, row.status, row.password_marker) for row, _ in decided],
            int(self._clock()),
        )
        if failed:
            self._retry_later(failed)
            self._checks.record_failures(failed, int(self._clock() + RETRY_SECONDS))
            decided += [(_failure(name, rows.get(name)), False) for name in failed]
        for row, changed in decided:
            _audit(rows.get(row.username), row, changed)
        checked = {row.username: row for row, _ in decided}
        self._apply(checked)
        return checked


def _failure(username: str, previous: CheckRecord | None) -> CheckRecord:
    """The row a failed check leaves (as ``UserChecks.record_failures`` writes it)."""
    if previous is None:
        return CheckRecord(username, 0, CHECK_FAILED, None)
    if previous.status in (OK, UNCHECKED):
        return replace(previous, status=CHECK_FAILED)
    return previous


def _audit(previous: CheckRecord | None, row: CheckRecord, changed: bool) -> None:
    """The ``user_revalidated`` line of one check, if its verdict changed anything."""
    before = previous.status if previous else UNCHECKED
    # A marker that appears counts as a change: OpenLDAP writes pwdChangedTime only
    # at the first password change after the entry was made.
    password_changed = (
        previous is not None
        and previous.status != UNCHECKED
        and row.password_marker != previous.password_marker
    )
    if before == row.status and not password_changed and not changed:
        return
    result = "success" if row.status == OK else "refused"
    if row.status == CHECK_FAILED:
        reason, result = CHECK_FAILED, "error"
    elif row.status != OK:
        reason = row.status
    elif password_changed:
        reason = reasons.PASSWORD_CHANGED
    elif before not in (OK, UNCHECKED):
        reason = reasons.USABLE_AGAIN
    else:
        reason = reasons.GROUPS_CHANGED
    audit(
        reasons.USER_REVALIDATED,
        user=row.username,
        source=None,
        result=result,
        reason=reason,
        previous=before,
        status=row.status,
        roles_or_admin_changed=changed,
    )
