"""Listing and ending sessions: the rules of docs/tokens.md#sessions, shared by REST, page
and CLI.

* a user sees and ends their own sessions; an MLflow admin anyone's (``user=NAME``) or
  everyone's; the operator at the command line is an admin (``wiring``);
* another user's session is, to a non-admin, exactly a session that does not exist
  (404), as for tokens: no one learns which handles exist; asking for another user's
  list is a 403, as for tokens;
* a list shows the sessions that are live now (not ended, not idle longer than
  ``session_idle_seconds``, not past ``session_max_seconds``), newest first, in pages
  like the token lists (``db.paging``); a row carries the handle ``id``, never the
  secret or its hash;
* every end goes through ``SessionAuthenticator.end``/``end_all``: the session is
  refused at once on every worker and server, and one ``session_ended`` line says who
  ended it (``by``) and how: ``ended_by_user`` when its owner did, ``ended_by_admin``
  otherwise. Ending a session that has ended answers it unchanged (a repeated
  ``DELETE`` is no error), as revoking a revoked token does;
* "all other sessions" (the page, signed in with a session) keeps the one named.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.names import name_key, owner_shown
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.db.paging import page_after, page_size
from mlflow_ldap_auth.errors import InvalidRequest, NotFound
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.secret_format import is_well_formed, secret_hash
from mlflow_ldap_auth.sessions.store import SessionRecord, SessionStore


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        sessions: SessionAuthenticator,
        is_admin: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self.is_admin = is_admin
        self._clock = clock

    def _owner_shown(self, requester: Principal, user: str | None, everyone: bool) -> str | None:
        """Whose sessions ``requester`` asks for (None: everyone's), if they may see them."""
        return owner_shown(
            requester.username,
            user,
            everyone,
            self.is_admin,
            "only MLflow admins may see or end other users' sessions",
        )

    def page(
        self,
        requester: Principal,
        user: str | None = None,
        everyone: bool = False,
        page_token: str | None = None,
        max_results=None,
    ) -> tuple[builtins.list[SessionRecord], str | None]:
        """One page of the live sessions asked for, and the next page's token (None: last)."""
        owner = self._owner_shown(requester, user, everyone)
        return self._store.page(
            owner,
            now=int(self._clock()),
            idle_seconds=self._sessions.idle_seconds,
            after=page_after(page_token),
            size=page_size(max_results),
        )

    def list(
        self, requester: Principal, user: str | None = None, everyone: bool = False
    ) -> builtins.list[SessionRecord]:
        """Every live session asked for, newest first (the command line)."""
        records: builtins.list[SessionRecord] = []
        page_token = None
        while True:
            page, page_token = self.page(requester, user, everyone, page_token)
            records += page
            if page_token is None:
                return records

    def visible(self, requester: Principal, session_id) -> SessionRecord | None:
        """The session if ``requester`` may see it (its owner, or an admin); else None."""
        record = self._store.by_id(session_id) if isinstance(session_id, str) else None
        if record is None or (
            name_key(record.owner) != name_key(requester.username)
            and not self.is_admin(requester.username)
        ):
            return None
        return record

    def current_id(self, secret: str | None) -> str | None:
        """The handle of the live session whose secret a request carries (its cookie):
        looked up by the secret's hash, as every check is; None for anything else."""
        if not secret or not is_well_formed(secret):
            return None
        record = self._store.by_hash(secret_hash(secret))
        if record is None or record.ended_at is not None:
            return None
        return record.id

    @staticmethod
    def _reason(requester: Principal, owner: str) -> str:
        if name_key(requester.username) == name_key(owner):
            return reasons.ENDED_BY_USER
        return reasons.ENDED_BY_ADMIN

    def end(self, requester: Principal, session_id: str, source: str | None) -> SessionRecord:
        """End one session; ``NotFound`` for one ``requester`` may not see."""
        record = self.visible(requester, session_id)
        if record is None:
            raise NotFound(f"no session {session_id!r}")
        if record.ended_at is not None:
            return record
        reason = self._reason(requester, record.owner)
        ended = self._sessions.end(record.id, requester.username, reason, source)
        if ended is None:  # ended by someone else a moment ago: answer it as it is now
            return self._store.by_id(record.id) or record
        return ended

    def end_all(
        self,
        requester: Principal,
        user,
        source: str | None,
        keep: str | None = None,
    ) -> builtins.list[SessionRecord]:
        """End every session of ``user`` (the sessions this call ended); with ``keep``,
        every live one but that one (the session the request itself came with)."""
        if not isinstance(user, str) or not user.strip():
            raise InvalidRequest("'user' is required: whose sessions to end")
        owner = self._owner_shown(requester, user.strip(), everyone=False)
        assert owner is not None  # everyone=False always names one owner
        reason = self._reason(requester, owner)
        if keep is None:
            return self._sessions.end_all(owner, requester.username, reason, source)
        ended = []
        for record in self.list(requester, owner):
            if record.id != keep:
                done = self._sessions.end(record.id, requester.username, reason, source)
                if done is not None:
                    ended.append(done)
        return ended
