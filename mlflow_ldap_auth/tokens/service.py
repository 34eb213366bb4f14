"""Creating, listing and revoking tokens: the rules of docs/tokens.md, shared by REST, page and CLI.

Decided here, and documented under docs/tokens.md#limits and #details:

* names are 1 to 100 characters without control characters, and need not be unique
  (rotation = create the new token under the same name, switch the pipeline, revoke the
  old one, without a moment in between where no token works);
* a user has at most ``MAX_ACTIVE_TOKENS`` unrevoked, unexpired tokens (400 beyond),
  and creates at most ``CREATION_RATES`` tokens per minute and per day, revoked ones
  included (429 ``RESOURCE_EXHAUSTED`` with ``Retry-After``): without the rates one
  user could create and revoke tokens many times a second, filling the audit trail and
  the token lists. Both are counted in the database under a per-user guard row
  (``TokenStore.add_within``), so they hold across workers and servers;
* a token that ended (revoked or expired) is listed for ``ENDED_RETENTION_DAYS``, then
  deleted (at the next creation by anyone); using it then is an ``unknown_token``;
* lists come in pages of ``db.paging.DEFAULT_PAGE_SIZE`` (``max_results`` up to
  ``MAX_PAGE_SIZE``) with a ``next_page_token``, like the activity table's;
* only a directory user logged in with their directory password creates tokens: not a
  token (a leaked token must not be able to mint successors that outlive its
  revocation), not the break-glass local admin (it is not in the directory, so nothing
  could ever revalidate its tokens);
* revoking someone else's token as a non-admin answers 404, as for an id that does not
  exist (no one learns which ids exist); revoking a revoked token answers it unchanged.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.login import DIRECTORY_USER_METHODS
from mlflow_ldap_auth.auth.names import owner_shown
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.db.paging import page_after, page_size
from mlflow_ldap_auth.errors import DomainError, Forbidden, InvalidRequest, NotFound, RateLimited
from mlflow_ldap_auth.tokens.secret_format import new_secret, secret_hash
from mlflow_ldap_auth.tokens.store import (
    CreationLimits,
    LimitReached,
    TokenRecord,
    TokenStore,
)

#: ``Principal.method`` of the operator's command line (``cli``): sees every token.
OPERATOR = "operator"
MAX_NAME_LENGTH = 100
MAX_ACTIVE_TOKENS = 100
_DAY = 86_400
#: (window in seconds, most creations per user within it).
CREATION_RATES = ((60, 20), (_DAY, 200))
ENDED_RETENTION_DAYS = 30


class CreationRateExceeded(RateLimited):
    """429 with ``Retry-After``: seconds until a creation is allowed again."""


def check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("'name' is required: a short text saying what the token is for")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"'name' is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidRequest("'name' contains a control character")
    return name


def check_days(days, max_days: int) -> int:
    if isinstance(days, str) and days.strip().isdigit() and days.strip().isascii():
        days = int(days.strip())
    if isinstance(days, bool) or not isinstance(days, int):
        raise InvalidRequest(f"'expires_in_days' is required: a whole number from 1 to {max_days}")
    if not 1 <= days <= max_days:
        raise InvalidRequest(f"'expires_in_days' must be from 1 to {max_days} (token_max_days)")
    return days


class TokenService:
    def __init__(
        self,
        store: TokenStore,
        max_days: int,
        is_admin: Callable[[str], bool],
        forget_cached: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.max_days = max_days
        self._is_admin = is_admin
        self._forget_cached = forget_cached
        self._clock = clock

    def create(
        self, requester: Principal, name, expires_in_days, source: str | None
    ) -> tuple[TokenRecord, str]:
        if requester.method == "token":
            raise Forbidden("a token cannot create tokens: log in with your directory password")
        if requester.method not in DIRECTORY_USER_METHODS:
            raise InvalidRequest(
                "only directory users have tokens; the break-glass admin cannot create one"
            )
        name = check_name(name)
        days = check_days(expires_in_days, self.max_days)
        now = int(self._clock())
        self.store.purge_ended(now - ENDED_RETENTION_DAYS * _DAY)
        secret = new_secret()
        limits = CreationLimits(MAX_ACTIVE_TOKENS, CREATION_RATES)
        try:
            record = self.store.add_within(
                requester.username, name, secret_hash(secret), now, now + days * _DAY, limits
            )
        except LimitReached as limit:
            raise self._refused(requester, limit, source) from None
        audit(
            reasons.TOKEN_CREATED,
            user=requester.username,
            source=source,
            result="success",
            reason=reasons.CREATED,
            token_id=record.id,
            name=name,
            expires=record.to_json()["expires"],
        )
        return record, secret

    @staticmethod
    def _refused(requester: Principal, limit: LimitReached, source: str | None) -> DomainError:
        error: DomainError
        if limit.window is None:
            reason = reasons.ACTIVE_LIMIT
            error = InvalidRequest(
                f"{requester.username} already has {limit.limit} active tokens: revoke some first"
            )
        else:
            reason = reasons.RATE_LIMITED
            period = "minute" if limit.window <= 60 else "day"
            error = CreationRateExceeded(
                f"{requester.username} created {limit.limit} tokens within the last "
                f"{period}: try again in {limit.retry_after} s",
                limit.retry_after,
            )
        audit(
            reasons.TOKEN_CREATED,
            user=requester.username,
            source=source,
            result="refused",
            reason=reason,
            limit=limit.limit,
            window=limit.window,
        )
        return error

    def _owner_shown(self, requester: Principal, user: str | None, everyone: bool) -> str | None:
        """Whose tokens ``requester`` asks for (None: everyone's), if they may see them."""
        return owner_shown(
            requester.username,
            user,
            everyone,
            self._is_admin,
            "only MLflow admins may list other users' tokens",
        )

    def list(self, requester: Principal, user: str | None = None, everyone: bool = False):
        """Every token ``requester`` asks for, newest first (the operator's command line)."""
        return self.store.list(self._owner_shown(requester, user, everyone))

    def page(
        self,
        requester: Principal,
        user: str | None = None,
        everyone: bool = False,
        page_token: str | None = None,
        max_results=None,
    ) -> tuple[builtins.list[TokenRecord], str | None]:
        """One page of ``list``, and the token of the next page (None on the last)."""
        owner = self._owner_shown(requester, user, everyone)
        return self.store.page(owner, page_after(page_token), page_size(max_results))

    def visible(self, requester: Principal, token_id) -> TokenRecord | None:
        """The token if ``requester`` may see it (its owner, or an admin); else None."""
        record = self.store.by_id(token_id) if isinstance(token_id, str) else None
        if record is None or (
            record.owner != requester.username and not self._is_admin(requester.username)
        ):
            return None
        return record

    def revoke(self, requester: Principal, token_id: str, source: str | None) -> TokenRecord:
        record = self.visible(requester, token_id)
        if record is None:
            raise NotFound(f"no token {token_id!r}")
        if record.revoked_at is not None:
            return record
        revoked = self.store.revoke(token_id, requester.username, int(self._clock()))
        self._forget_cached()
        if revoked is None:  # an ended token, purged since the check above
            raise NotFound(f"no token {token_id!r}")
        if requester.method == OPERATOR:
            reason = reasons.REVOKED_BY_OPERATOR
        elif requester.username == record.owner:
            reason = reasons.REVOKED_BY_OWNER
        else:
            reason = reasons.REVOKED_BY_ADMIN
        audit(
            reasons.TOKEN_REVOKED,
            user=record.owner,
            source=source,
            result="success",
            reason=reason,
            token_id=record.id,
            actor=requester.username,
        )
        return revoked
