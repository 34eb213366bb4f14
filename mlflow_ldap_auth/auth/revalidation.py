"""Accounts that follow the directory between logins (docs/tokens.md#when-someone-leaves).

A cached password or an access token lets a user in without a bind, so without this
an account disabled, locked or removed in the directory would keep working until its
cache entry or token expired. The *active* users of a worker are those with a cached
password in it and those whose tokens or sessions it served within the interval. For each, the
directory entry is re-read with the service account at least every
``revalidate_interval_seconds`` (``Directory.lookup_many``: the user search, which also
reads the account state, and the group searches of a login, batched for up to
``BATCH_SIZE`` users):

* gone, disabled, locked, expired, or no longer in ``allowed_groups``: the user's tokens
  answer 401 (``tokens.authenticator`` reads the status) and cached passwords are
  evicted, on every worker of every server within seconds;
* password changed (``pwdChangedTime`` / ``pwdLastSet`` differs): cached passwords are
  evicted (tokens keep working: they do not depend on the password); sessions end
  (``session_verdict``: a session keeps the marker of its sign-in);
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

from mlflow_ldap_auth.auth.revalidation_checks import (
    BATCH_SIZE,
    CLAIM_WAIT_SECONDS,
    GONE,
    NOT_ALLOWED,
    RETRY_SECONDS,
    STATUS_TTL_SECONDS,
    tick_seconds,
)
from mlflow_ldap_auth.auth.revalidation_requests import RequestChecks

__all__ = [
    "BATCH_SIZE",
    "CLAIM_WAIT_SECONDS",
    "GONE",
    "NOT_ALLOWED",
    "RETRY_SECONDS",
    "STATUS_TTL_SECONDS",
    "Revalidator",
    "tick_seconds",
]

_logger = logging.getLogger(__name__)


class Revalidator(RequestChecks):
    """Per worker: tracks active users, checks the due ones, applies the fleet's results.

    The request path is in ``RequestChecks``, the checks with the directory in
    ``RevalidationChecks``; this class adds the background round and the status."""

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
            self._credential_users.expire()
            users.update(self._credential_users.keys())
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
