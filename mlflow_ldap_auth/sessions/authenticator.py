"""Checking a session on a request, and ending sessions (their audit records:
docs/reference/audit.md#sessions).

Sign-out takes effect at once on every worker and server: every request reads its
session's row, one look-up by the unique ``secret_hash`` index, so a session ended
anywhere is refused by the next request everywhere. Nothing about a live session is
served from a worker's memory; only what can never change again is remembered (a
bounded memory of hashes that are unknown or whose session has ended, so a replayed
or stale cookie costs no query). The owner's standing comes from revalidation's
memory as for tokens (``Revalidator.session_verdict``; at most a few seconds old, and
the owner counts as an active user of this worker, so one revalidation serves the
user's tokens and sessions alike).

The row's read is the price of "at once", so it is made lean (``sessions.direct_read``:
one round trip on a pooled connection of a second, autocommit engine, no ping, no
transaction); everything else a warm check does is memory (the hash, the two bounded
memories above, revalidation's verdict). Measured warm check (``benchmarks/
bench_sessions.py``, 2026-12-07, 2 cores; CPU per check): 27 µs on a SQLite file (230 µs
through an SQLAlchemy ``Connection`` on the plugin's engine, at load 7-9) and 101-113 µs
on PostgreSQL over loopback (537 µs through the engine: the pool's ping and ``ROLLBACK``
were two of its three round trips), against 7-9 µs for a warm token check, which answers
from memory and sees a revocation only after ``RECORD_TTL_SECONDS``, and 5-7 µs for a
warm cached password.
A per-worker memory of live sessions with one shared "ended since?" read instead (a
counter bumped by every end) would still be a round trip: 1-7 µs less, measured, for
another table and a second truth, so it was not built (docs/performance.md#browser-sessions).

A session is *over* when its absolute lifetime (``max_seconds``, fixed at sign-in as
``expires_at``) has passed, when it was idle longer than ``idle_seconds``
(``last_seen_at`` is written at most once a minute, so it may end up to a minute
early), or when revalidation refuses its owner (gone, disabled, locked, expired, out of
``allowed_groups``, a check failing longer than the interval) or says the password
changed since the sign-in. The first request that finds it over ends the row (so it is
over everywhere, and lists no longer show it) and writes the one ``session_ended``
line; every other refusal is a ``session_refused`` line. While no directory server
answers, a session is served until ``token_outage_grace_seconds`` after its owner's
last successful check, then ``DirectoryUnavailable`` (503); that ends nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.login import SESSION_METHOD
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.sessions.secret_format import is_well_formed, secret_hash
from mlflow_ldap_auth.sessions.store import (
    LAST_SEEN_RESOLUTION_SECONDS,
    SessionRecord,
    SessionStore,
)

#: How long a worker remembers that a hash is unknown (s); an ended one is final.
UNKNOWN_TTL_SECONDS = 60.0


class SessionAuthenticator:
    def __init__(
        self,
        store: SessionStore,
        revalidator: Revalidator | None,
        *,
        idle_seconds: int,
        max_seconds: int,
        max_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: The table, shared with ``service.SessionService`` (one read engine a worker).
        self.store = store
        self._store = store
        #: None in a process that only lists and ends sessions (the command line): it
        #: checks none, and ``authenticate`` refuses to run there.
        self._revalidator = revalidator
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._lock = threading.Lock()
        #: Hashes refused here without a query: unknown ones for a while (a secret is
        #: never sent before its row exists), ended ones (with the session, for the
        #: audit line) for as long as a session lives: an ended session never comes
        #: back. Hashes only, never a secret.
        self._unknown: TTLCache[str, bool] = TTLCache(max_size, UNKNOWN_TTL_SECONDS, timer=clock)
        self._ended: TTLCache[str, SessionRecord] = TTLCache(
            max_size, float(max_seconds), timer=clock
        )

    def sign_in(
        self, owner: str, source: str | None, password_marker: str | None
    ) -> tuple[SessionRecord, str]:
        """A new session of ``owner`` after a successful bind; the secret, once.

        ``password_marker`` is what the bind read (``AccountState.password_marker``):
        a password changed after it ends the session."""
        return self._store.create(
            owner,
            source=source,
            password_marker=password_marker,
            now=int(self._clock()),
            max_seconds=self.max_seconds,
        )

    def authenticate(self, secret: str, source: str | None) -> Principal:
        """The session's owner, or an ``AuthError`` (see the module docstring)."""
        record, refused = self._look_up(secret)
        try:
            if refused is not None or record is None:
                raise InvalidCredentials("session refused", reason=refused)
            ending = self._ending(record)
        except AuthError as error:
            self._refused_line(error, record, source)
            raise
        if ending is not None:
            self._forget_ended(secret_hash(secret), record)
            if not self._end(record, ending, by=None, source=source):
                # Another request or worker ended it a moment ago, and said why.
                late = InvalidCredentials("session ended", reason=reasons.ENDED_SESSION)
                self._refused_line(late, record, source)
                raise late
            raise InvalidCredentials(f"session over: {ending}", reason=ending)
        now = int(self._clock())
        if now - record.last_seen_at >= LAST_SEEN_RESOLUTION_SECONDS:
            self._store.touch(record.id, now)
        return Principal(username=record.owner, is_admin=False, method=SESSION_METHOD)

    def _look_up(self, secret: str) -> tuple[SessionRecord | None, str | None]:
        """The session of ``secret`` and, if it is refused as it is, the reason."""
        if not is_well_formed(secret):
            return None, reasons.UNKNOWN_SESSION
        digest = secret_hash(secret)
        with self._lock:
            ended = self._ended.get(digest)
            unknown = digest in self._unknown
        if ended is not None:
            return ended, reasons.ENDED_SESSION
        if unknown:
            return None, reasons.UNKNOWN_SESSION
        record = self._store.by_hash(digest)
        if record is None:
            with self._lock:
                self._unknown[digest] = True
            return None, reasons.UNKNOWN_SESSION
        if record.ended_at is not None:
            self._forget_ended(digest, record)
            return record, reasons.ENDED_SESSION
        return record, None

    def _ending(self, record: SessionRecord) -> str | None:
        """Why ``record`` is over now, if it is (raises ``DirectoryUnavailable``)."""
        over = record.over(self._clock(), self.idle_seconds)
        if over is not None:
            return over
        if self._revalidator is None:
            raise RuntimeError("a session is checked only where a revalidator runs")
        self._revalidator.note_credential_use(record.owner)
        return self._revalidator.session_verdict(record.owner, record.password_marker)

    def _forget_ended(self, digest: str, record: SessionRecord) -> None:
        with self._lock:
            self._ended[digest] = record

    def _refused_line(
        self, error: AuthError, record: SessionRecord | None, source: str | None
    ) -> None:
        audit(
            reasons.SESSION_REFUSED,
            user=record.owner if record else None,
            source=source,
            result="unavailable" if isinstance(error, DirectoryUnavailable) else "refused",
            reason=error.reason,
            session_id=record.id if record else None,
        )

    # -- ending ----------------------------------------------------------------
    def _end(self, record: SessionRecord, reason: str, by: str | None, source: str | None) -> bool:
        """End ``record``'s session; the ``session_ended`` line if this call ended it."""
        if not self._store.end(record.id, reason, by, int(self._clock())):
            return False
        _ended_line(record, reason, by, source)
        return True

    def sign_out(self, secret: str, source: str | None) -> SessionRecord | None:
        """End the session of ``secret`` (``logout``); the session, None if none was live."""
        if not is_well_formed(secret):
            return None
        digest = secret_hash(secret)
        record = self._store.by_hash(digest)
        if record is None:
            return None
        self._forget_ended(digest, record)
        if not self._end(record, reasons.LOGOUT, record.owner, source):
            return None
        return record

    def end(
        self, session_id: str, by: str, reason: str, source: str | None
    ) -> SessionRecord | None:
        """End one session by its handle (``ended_by_user``, ``ended_by_admin``)."""
        record = self._store.by_id(session_id)
        if record is None or not self._end(record, reason, by, source):
            return None
        return record

    def end_all(self, owner: str, by: str, reason: str, source: str | None) -> list[SessionRecord]:
        """End every session of ``owner``; one ``session_ended`` line each."""
        ended = self._store.end_all(owner, reason, by, int(self._clock()))
        for record in ended:
            _ended_line(record, reason, by, source)
        return ended


def _ended_line(record: SessionRecord, reason: str, by: str | None, source: str | None) -> None:
    audit(
        reasons.SESSION_ENDED,
        user=record.owner,
        source=source,
        result="success",
        reason=reason,
        session_id=record.id,
        by=by,
    )
