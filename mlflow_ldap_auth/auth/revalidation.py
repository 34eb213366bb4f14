"""Accounts that follow the directory between logins (docs/tokens.md#when-someone-leaves).

A cached password or an access token lets a user in without a bind, so without this
an account disabled, locked or removed in the directory would keep working until its
cache entry or token expired. The *active* users of a worker are those with a cached
password in it and those whose tokens it served within the interval. For each, the
directory entry is re-read with the service account at least every
``revalidate_interval_seconds`` (``Directory.lookup_many``: the user search, which also
reads the account state, and the group searches of a login, batched for up to
``BATCH_SIZE`` users):

* gone, disabled, locked, expired, or no longer in ``allowed_groups``: the user's tokens
  answer 401 (``tokens.authenticator`` reads the status) and cached passwords are
  evicted, on every worker of every server within seconds;
* password changed (``pwdChangedTime`` / ``pwdLastSet`` differs): cached passwords are
  evicted (tokens keep working: they do not depend on the password);
* otherwise admin flag, groups and grants are re-synced exactly as at a fresh login.

One check per active user per interval for the whole fleet: each result is a row of
``ldap_auth_user_checks`` (``user_checks``); a worker checks a user only after winning
the row's claim, and a row is due early enough (``due_age``) that the result reaches
every worker before the interval has passed. Every worker reads the rows of its active users every
few seconds (one query per 500 users) and applies what they say locally.

A request that meets a row older than the interval (an idle token used again) needs
the verdict before it is answered: in a worker, one request checks and the others of
the same user wait for its result; a worker that loses the claim to another waits for
that worker's result in the database (at most ``claim_wait_seconds``), and asks the
directory itself if none comes. So while the directory answers, no request is refused
or answered 503 because another one was checking at the same moment.

A fresh login is a check too (the bind's user search read the same attributes).
While no directory server answers, the rows keep their last ``checked_at``; tokens are
served until ``token_outage_grace_seconds`` after it (then 503), cached passwords until
their own TTL, as before.

A check that fails while the directory answers is not an outage, and does not get the
outage's grace: a search the server refuses (``SearchRefused``: a referral, a limit),
an error of MLflow's store while re-syncing, a bug. A batch whose look-up fails that
way is looked up again user by user, so one entry cannot hold back the others; a user
whose own check fails is recorded as ``check_failed`` (audit ``user_revalidated``,
reason ``check_failed``): cached passwords are evicted at once (a password login binds,
which checks the account itself), tokens are served until the last successful check
is older than the interval and then answer 401 (``owner_check_failed``), and the
fleet retries the check every ``RETRY_SECONDS`` until it succeeds (``usable_again``).
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
    CLAIM_SECONDS,
    UNCHECKED,
    CheckRecord,
    UserChecks,
)
from mlflow_ldap_auth.errors import DirectoryUnavailable, NotAllowed, SearchRefused
from mlflow_ldap_auth.ldap.account_state import OK
from mlflow_ldap_auth.ldap.entries import DirectoryUser

_logger = logging.getLogger(__name__)

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


class Revalidator:
    """Per worker: tracks active users, checks the due ones, applies the fleet's results."""

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
        self._token_users: TTLCache[str, bool] = TTLCache(max_users, interval_seconds, timer=clock)
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

    @property
    def tick_seconds(self) -> float:
        return tick_seconds(self.interval)

    @property
    def due_age(self) -> float:
        """A row this old is checked again: early enough that the result reaches every
        worker before the interval is over (the checker notices it within a tick, and
        every worker re-reads the rows of its active users at each tick)."""
        return max(1.0, self.interval - 2 * self.tick_seconds)

    # -- what the request path uses ------------------------------------------
    def note_token_use(self, username: str) -> None:
        with self._lock:
            self._token_users[username] = True

    def _remembered(self, username: str) -> CheckRecord | None:
        """The user's check row as this worker last read it (at most a few seconds old)."""
        with self._lock:
            return self._rows.get(username)

    def known_usable(self, username: str) -> bool:
        """Whether memory alone says ``username``'s tokens may be used (no I/O)."""
        row = self._remembered(username)
        return (
            row is not None and row.status == OK and self._clock() - row.checked_at <= self.interval
        )

    def token_verdict(self, username: str) -> str | None:
        """None if ``username``'s tokens may be used now, else the refusal reason.

        Raises ``DirectoryUnavailable`` when the last successful check is older than
        the interval, the directory cannot answer now, and the grace period is over.
        An account whose checks fail while the directory answers (``check_failed``) is
        usable until its last successful check is older than the interval.
        """
        now = self._clock()
        row = self._remembered(username)
        if row is None or row.status == UNCHECKED or now - row.checked_at > self.interval:
            row = self._reread(username, now)
        if row is None or row.status == UNCHECKED:
            raise DirectoryUnavailable(
                f"{username}'s directory entry was never checked and the directory is down",
                reason=reasons.REVALIDATION_UNAVAILABLE,
            )
        age = now - row.checked_at
        if row.status == CHECK_FAILED:
            return reasons.OWNER_PREFIX + CHECK_FAILED if age > self.interval else None
        if row.status != OK:
            return reasons.OWNER_PREFIX + row.status
        if age > self.interval and age > self.grace:
            raise DirectoryUnavailable(
                f"{username}'s directory entry was last checked {int(age)} s ago "
                "(over token_outage_grace_seconds) and the directory is down",
                reason=reasons.OUTAGE_GRACE_OVER,
            )
        return None

    def record_login(self, user: DirectoryUser) -> None:
        """A fresh bind is a successful check of the account."""
        now = int(self._clock())
        marker = user.account.password_marker
        self._checks.record(user.username, OK, marker, now)
        with self._lock:
            self._rows[user.username] = CheckRecord(user.username, now, OK, marker)
            self._markers[user.username] = marker

    # -- checking ------------------------------------------------------------
    def _reread(self, username: str, now: float) -> CheckRecord | None:
        """No row in memory, or one older than the interval: the database's, or a check.

        Memory is empty for a user this worker has not served for a few seconds; a row
        older than the interval is rare when the user is in use (the background round
        keeps it fresh): an idle token used again, a round that fell behind. The row is
        read from the database (another worker may just have checked); if it is still
        too old, the user is checked (``_check_for_requests``), unless a check got no
        verdict within ``RETRY_SECONDS`` (here, or anywhere for ``check_failed``): the
        row as it is is used then.
        """
        row = self._checks.get(username)
        if row is not None:
            with self._lock:
                self._rows[username] = row
            if row.status != UNCHECKED and now - row.checked_at <= self.interval:
                return row
        with self._lock:
            if username in self._failed_at:
                return row
        if row is not None and row.status == CHECK_FAILED and row.claimed_until >= now:
            return row  # failed a moment ago: retried after RETRY_SECONDS
        return self._check_for_requests(username, row, now)

    def _check_for_requests(
        self, username: str, row: CheckRecord | None, now: float
    ) -> CheckRecord | None:
        """One check of ``username`` in this worker, however many requests need it.

        The first request checks (``_check_claimed``); the others wait for its row (at
        most ``CLAIM_SECONDS``, as long as a claim holds) instead of answering on the
        stale one.
        """
        with self._lock:
            check = self._checks_under_way.get(username)
            leading = check is None
            if check is None:
                check = self._checks_under_way[username] = _Check(row)
        if not leading:
            check.done.wait(CLAIM_SECONDS)
            return check.row
        try:
            check.row = self._check_claimed(username, row, now)
        finally:
            with self._lock:
                del self._checks_under_way[username]
            check.done.set()
        return check.row

    def _check_claimed(
        self, username: str, row: CheckRecord | None, now: float
    ) -> CheckRecord | None:
        """Check ``username`` if this worker wins the claim; else wait for the winner.

        A claim held by another worker means its check is under way: its result is
        awaited in the database. If none comes (the claim was given back without one,
        or ``claim_wait_seconds`` passed), the user is checked here all the same: a
        second look-up is cheaper than refusing a request the directory would allow.
        """
        if self._checks.claim(username, int(now), int(now - self.due_age)):
            return self._check(username, row)
        return self._awaited(username, row) or self._check(username, row)

    def _awaited(self, username: str, before: CheckRecord | None) -> CheckRecord | None:
        """Another worker's new row for ``username``; None if none is coming soon.

        Polls the database (20 ms, doubling up to 250 ms) until the row differs from
        ``before``, the claim is no longer held, or ``claim_wait_seconds`` have passed.
        """
        deadline = time.monotonic() + self._claim_wait
        pause = 0.02
        while True:
            row = self._checks.get(username)
            if row is not None and row != before:
                with self._lock:
                    self._rows[username] = row
                return row
            if row is None or row.claimed_until < self._clock():
                return None
            if time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(2 * pause, 0.25)

    def _check(self, username: str, previous: CheckRecord | None) -> CheckRecord | None:
        """Check one claimed user now; the new row, or None if there is no answer."""
        rows = {username: previous} if previous is not None else {}
        return self._check_batch([username], rows).get(username, previous)

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

    @staticmethod
    def _failure(username: str, previous: CheckRecord | None) -> CheckRecord:
        """The row a failed check leaves (as ``UserChecks.record_failures`` writes it)."""
        if previous is None:
            return CheckRecord(username, 0, CHECK_FAILED, None)
        if previous.status in (OK, UNCHECKED):
            return replace(previous, status=CHECK_FAILED)
        return previous

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

    def _audit(self, previous: CheckRecord | None, row: CheckRecord, changed: bool) -> None:
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

    def status(self) -> dict:
        """This worker's view, for the status API."""
        return {
            "interval_seconds": self.interval,
            "outage_grace_seconds": self.grace,
            "active_users": len(self.active_users()),
            "checks_made": self.checks_made,
        }

    # -- the background round --------------------------------------------------
    def active_users(self) -> set[str]:
        users = {
            principal.username
            for principal in self._cache.remembered()
            if self._is_directory_user(principal)
        }
        with self._lock:
            self._token_users.expire()
            users.update(self._token_users.keys())
        return users

    def tick(self) -> int:
        """One round: read the active users' rows, apply them, check the due ones.

        Returns how many users this worker checked with the directory.
        """
        active = self.active_users()
        if not active:
            return 0
        rows = self._checks.get_many(active)
        self._apply(rows)
        now = self._clock()
        due_before = int(now - self.due_age)
        due = []
        for username in sorted(active):
            row = rows.get(username)
            if row is not None and row.checked_at > due_before:
                continue
            with self._lock:
                if username in self._failed_at:
                    continue
            due.append(username)
        claimed = self._checks.claim_many(due, int(now), due_before)
        for start in range(0, len(claimed), BATCH_SIZE):
            self._check_batch(claimed[start : start + BATCH_SIZE], rows)
        return len(claimed)

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
            decided += [(self._failure(name, rows.get(name)), False) for name in failed]
        for row, changed in decided:
            self._audit(rows.get(row.username), row, changed)
        checked = {row.username: row for row, _ in decided}
        self._apply(checked)
        return checked

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name="mlflow-ldap-auth-revalidation", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:
                _logger.exception("Revalidation round failed")

    def stop(self) -> None:
        self._stop.set()
