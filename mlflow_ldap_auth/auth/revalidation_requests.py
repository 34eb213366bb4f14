"""Revalidation on the request path: the verdict a token or session use needs, one check at a time.

A request that meets a row older than the interval (an idle token used again) needs
the verdict before it is answered (docs/tokens.md#when-someone-leaves): in a worker,
one request checks and the others of the same user wait for its result; a worker that
loses the claim to another waits for that worker's result in the database (at most
``claim_wait_seconds``), and asks the directory itself if none comes. The checks
themselves are in ``RevalidationChecks``, the background round in ``Revalidator``.
"""

from __future__ import annotations

import time

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.revalidation_checks import RevalidationChecks, _Check, tick_seconds
from mlflow_ldap_auth.auth.user_checks import CHECK_FAILED, CLAIM_SECONDS, UNCHECKED, CheckRecord
from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.account_state import OK
from mlflow_ldap_auth.ldap.entries import DirectoryUser


class RequestChecks(RevalidationChecks):
    """Per worker: what the request path asks of revalidation (token, session verdicts; logins)."""

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
    def note_credential_use(self, username: str) -> None:
        """A token or a session of ``username`` was used: the user is active here."""
        with self._lock:
            self._credential_users[username] = True

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
        return self._verdict(username, self._current_row(username))

    def session_verdict(self, username: str, password_marker: str | None) -> str | None:
        """As ``token_verdict``, and a session signed in with another password is refused.

        ``password_marker`` is the one the sign-in's bind read. Unlike a token, a session
        was opened with the password, so a password changed since ends it
        (``owner_password_changed``); a marker that appears counts as a change, as in
        the ``user_revalidated`` audit (OpenLDAP writes ``pwdChangedTime`` only at the
        first change after the entry was made).
        """
        row = self._current_row(username)
        verdict = self._verdict(username, row)
        if verdict is None and row is not None and row.password_marker != password_marker:
            return reasons.OWNER_PASSWORD_CHANGED
        return verdict

    def password_marker(self, username: str) -> str | None:
        """The password marker of ``username``'s newest check this worker knows (the bind
        of a login just made, or a revalidation since): what a session signed in now keeps
        (``session_verdict`` compares it with later checks)."""
        row = self._remembered(username) or self._checks.get(username)
        return None if row is None else row.password_marker

    def _current_row(self, username: str) -> CheckRecord | None:
        row = self._remembered(username)
        if row is None or row.status == UNCHECKED or self._clock() - row.checked_at > self.interval:
            row = self._reread(username, self._clock())
        return row

    def _verdict(self, username: str, row: CheckRecord | None) -> str | None:
        if row is None or row.status == UNCHECKED:
            raise DirectoryUnavailable(
                f"{username}'s directory entry was never checked and the directory is down",
                reason=reasons.REVALIDATION_UNAVAILABLE,
            )
        age = self._clock() - row.checked_at
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
