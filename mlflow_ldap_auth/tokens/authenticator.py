"""Checking a token on a request: hash, a short per-worker memory, the owner's standing.

Per request (warm): the format and checksum, one SHA-256, a dictionary look-up, the
owner's check row from memory. The database is read at most every
``RECORD_TTL_SECONDS`` per token (so a revocation or expiry made through any worker or
server is seen within that, well inside the 10 s of
docs/tokens.md#rotate-and-revoke), and written at most once a
minute per token (``last_used``). Unknown hashes are remembered for the same time, so
a client retrying a wrong secret costs no database query per request; the memory is
bounded, and keeps hashes only, never a secret.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.names import name_key
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.metrics import NULL_METRICS, Metrics
from mlflow_ldap_auth.tokens.secret_format import is_well_formed, secret_hash
from mlflow_ldap_auth.tokens.store import LAST_USED_RESOLUTION_SECONDS, TokenRecord, TokenStore

RECORD_TTL_SECONDS = 5.0
_UNKNOWN = "unknown"


class TokenAuthenticator:
    def __init__(
        self,
        store: TokenStore,
        revalidator: Revalidator,
        #: Whether a typed login (Basic ``user:secret``) names the owner.
        same_name: Callable[[str, str], bool],
        max_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._revalidator = revalidator
        self._same_name = same_name
        self._clock = clock
        self._lock = threading.Lock()
        self._records: TTLCache[str, tuple[TokenRecord, Principal] | str] = TTLCache(
            max_size, RECORD_TTL_SECONDS, timer=clock
        )
        self._touched: TTLCache[str, bool] = TTLCache(
            max_size, LAST_USED_RESOLUTION_SECONDS, timer=clock
        )

    def forget(self) -> None:
        with self._lock:
            self._records.clear()

    def _remembered(self, digest: str):
        with self._lock:
            return self._records.get(digest)

    def _lookup(self, digest: str) -> tuple[TokenRecord, Principal] | None:
        known = self._remembered(digest)
        if known is None:
            record = self._store.by_hash(digest)
            if record is None:
                known = _UNKNOWN
            else:
                principal = Principal(
                    username=record.owner, is_admin=False, method="token", token_id=record.id
                )
                known = (record, principal)
                self._revalidator.note_credential_use(record.owner)
            with self._lock:
                self._records[digest] = known
        return None if known == _UNKNOWN else known

    def peek(self, secret: str, claimed_owner: str | None) -> Principal | None:
        """The principal if memory alone says the token is good now (no I/O at all)."""
        if not is_well_formed(secret):
            return None
        known = self._remembered(secret_hash(secret))
        if not isinstance(known, tuple):
            return None
        record, principal = known
        with self._lock:
            touched = record.id in self._touched
        if (
            not touched
            or not record.is_active(self._clock())
            # Memory only: just the spellings that need no domain look-up.
            or (claimed_owner is not None and name_key(claimed_owner) != name_key(record.owner))
            or not self._revalidator.known_usable(record.owner)
        ):
            return None
        self._metrics.token_request("success")
        return principal

    def authenticate(self, secret: str, claimed_owner: str | None, source: str | None) -> Principal:
        """The token's owner, or an ``AuthError`` (audited as ``token_refused``)."""
        record = None
        try:
            if not is_well_formed(secret):
                raise InvalidCredentials("not a well-formed token", reason=reasons.MALFORMED_TOKEN)
            known = self._lookup(secret_hash(secret))
            if known is None:
                raise InvalidCredentials("no such token", reason=reasons.UNKNOWN_TOKEN)
            record, principal = known
            if claimed_owner is not None and not self._same_name(claimed_owner, record.owner):
                raise InvalidCredentials("token of another user", reason=reasons.WRONG_OWNER)
            now = self._clock()
            if record.revoked_at is not None:
                raise InvalidCredentials("token revoked", reason=reasons.REVOKED)
            if now >= record.expires_at:
                raise InvalidCredentials("token expired", reason=reasons.EXPIRED)
            verdict = self._revalidator.token_verdict(record.owner)
            if verdict is not None:
                raise InvalidCredentials(f"owner refused: {verdict}", reason=verdict)
        except AuthError as error:
            # The metric knows two results (docs/reference/metrics.md): a token that
            # could not be checked (503) was not served either.
            self._metrics.token_request("refused")
            audit(
                reasons.TOKEN_REFUSED,
                user=record.owner if record else claimed_owner,
                source=source,
                result="unavailable" if isinstance(error, DirectoryUnavailable) else "refused",
                reason=error.reason,
                method="token",
                token_id=record.id if record else None,
            )
            raise
        self._touch(record, int(now))
        self._metrics.token_request("success")
        return principal

    def _touch(self, record: TokenRecord, now: int) -> None:
        with self._lock:
            if record.id in self._touched:
                return
            self._touched[record.id] = True
        self._store.touch(record.id, now)
