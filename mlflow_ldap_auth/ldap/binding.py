"""Binds: user and service-account binds with failover, and the checks made before them.

Two failure families are kept apart, because the client must see them differently:

* the directory *answered* no (bad password, unknown user, locked account):
  ``InvalidCredentials`` -> 401, and no other server is asked (every server holds the
  same directory);
* the directory could not answer (refused, timed out, TLS failure, busy):
  ``DirectoryUnavailable`` -> 503, after trying every server ``ServerPool`` allows.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.protocol.sasl.sasl import validate_simple_password

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.connection import LdapConnection, OperationCounter
from mlflow_ldap_auth.ldap.servers import (
    SOCKET_ERRORS,
    ServerPool,
    ServerState,
    describe_socket_error,
)

if TYPE_CHECKING:
    from mlflow_ldap_auth.ldap.lockout_policies import DirectoryLockout

_logger = logging.getLogger(__name__)

#: Longest login name accepted; longer ones are refused before any LDAP traffic.
MAX_USERNAME_LENGTH = 256

#: The reason of the spraying guard's refusal (no bind was sent).
THROTTLED = reasons.THROTTLED

RESULT_INVALID_CREDENTIALS = 49
RESULT_STRONGER_AUTH_REQUIRED = 8
RESULT_CONFIDENTIALITY_REQUIRED = 13
RESULT_BUSY = 51
RESULT_UNAVAILABLE = 52

# Active Directory puts a sub-code in the diagnostic message of a failed bind.
AD_BIND_REASONS = {
    "525": reasons.USER_NOT_FOUND,
    "52e": reasons.BAD_PASSWORD,
    "530": reasons.LOGON_HOURS,
    "531": reasons.WORKSTATION_RESTRICTED,
    "532": reasons.PASSWORD_EXPIRED,
    "533": reasons.ACCOUNT_DISABLED,
    "568": reasons.TOO_MANY_SIDS,
    "701": reasons.ACCOUNT_EXPIRED,
    "773": reasons.MUST_CHANGE_PASSWORD,
    "775": reasons.ACCOUNT_LOCKED,
}
_AD_DATA_CODE = re.compile(r"\bdata ([0-9a-f]{3,4})\b", re.IGNORECASE)


def ad_bind_reason(message: str | None) -> str | None:
    """AD's reason for a failed bind (``data 52e`` -> ``bad_password``), if any."""
    match = _AD_DATA_CODE.search(message or "")
    if not match:
        return None
    return AD_BIND_REASONS.get(
        match.group(1).lower(), reasons.AD_CODE_PREFIX + match.group(1).lower()
    )


def check_login(login: str, password: str) -> None:
    """Refuse, before any LDAP traffic, what must never reach a bind."""
    # ldap3 turns an empty user or password into an anonymous bind that *succeeds*
    # (RFC 4513 5.1.2), so both are refused before any LDAP traffic.
    if not login or not login.strip():
        raise InvalidCredentials("empty username", reason=reasons.EMPTY_USERNAME)
    if not password:
        raise InvalidCredentials("empty password", reason=reasons.EMPTY_PASSWORD)
    if len(login) > MAX_USERNAME_LENGTH:
        raise InvalidCredentials("username too long", reason=reasons.USERNAME_TOO_LONG)
    try:
        # What ldap3 does to a simple-bind password (RFC 4013 SASLprep): a password it
        # cannot send (control characters, unassigned code points) is refused here,
        # before any LDAP traffic, as the client's 401 and not an exception.
        validate_simple_password(password)
    except ldap_exc.LDAPException:
        raise InvalidCredentials(
            "the password contains characters LDAP cannot carry", reason=reasons.UNUSABLE_PASSWORD
        ) from None


class BindGuard(Protocol):
    """The password-spraying guard, as the directory sees it (see ``auth.lockout``).

    ``attempt(account, lockout)`` is entered right before a password bind and may refuse
    it (``InvalidCredentials``); ``account`` is the entry's key (``account_key``),
    ``lockout`` the directory's own policy for it (None: it locks nobody). The binder
    sets ``refused`` on what it yields when the directory said no, so that attempt
    keeps its slot. ``found``: ``account`` is an entry the service account's search
    found (a real person, not a name anybody can make up), which keeps a counter of its
    own however many made-up names the guard counts.
    """

    def attempt(
        self, account: str, lockout: DirectoryLockout | None = None, found: bool = False
    ) -> AbstractContextManager: ...


class _Unguarded:
    refused = False


@contextmanager
def _guarded(
    guard: BindGuard | None, account: str, lockout: DirectoryLockout | None, found: bool
) -> Iterator[Any]:
    if guard is None:
        yield _Unguarded()
    else:
        with guard.attempt(account, lockout, found) as attempt:
            yield attempt


class _TryNextServer(Exception):
    """The server answered the bind with "busy" or "unavailable": ask the next one."""


class Binder:
    """Opens a connection bound as someone, on the first server that answers."""

    def __init__(self, pool: ServerPool, operations: OperationCounter) -> None:
        self._pool = pool
        self._operations = operations

    def connect(self, bind_dn: str | None, password: str | None) -> LdapConnection:
        """An open, bound (anonymous for ``bind_dn`` None) connection.

        Raises ``InvalidCredentials`` when a server refuses the credentials (no
        failover) and ``DirectoryUnavailable`` when none answers.
        """
        failures = []
        for state in self._pool.to_try():
            started = time.monotonic()
            try:
                connection = self._bind(state, bind_dn, password)
            except SOCKET_ERRORS as exc:
                error = describe_socket_error(exc)
                _logger.warning("LDAP server %s unavailable: %s", state.uri, error)
            except _TryNextServer as exc:
                error = str(exc)
            except (InvalidCredentials, DirectoryUnavailable):
                self._pool.mark(state, None, started)  # it answered, with a no
                raise
            else:
                self._pool.mark(state, None, started)
                return connection
            self._pool.mark(state, error, started)
            failures.append(f"{state.uri}: {error}")
        raise DirectoryUnavailable("no LDAP server answered: " + "; ".join(failures))

    def connect_guarded(
        self,
        user_dn: str,
        password: str,
        guard: BindGuard | None,
        account: str,
        lockout: DirectoryLockout | None = None,
        found: bool = False,
    ) -> LdapConnection:
        """``connect`` as a user inside the guard's slot for ``account``.

        A refused bind keeps its slot (``attempt.refused``); any other outcome gives
        it back. ``found``: as in ``BindGuard``.
        """
        with _guarded(guard, account, lockout, found) as attempt:
            try:
                return self.connect(user_dn, password)
            except InvalidCredentials:
                attempt.refused = True
                raise

    def _bind(
        self, state: ServerState, bind_dn: str | None, password: str | None
    ) -> LdapConnection:
        """Open and bind on one server; raises socket errors or ``_TryNextServer``."""
        options: dict[str, Any] = {"read_only": True}
        if bind_dn:
            options.update(user=bind_dn, password=password, authentication=ldap3.SIMPLE)
        connection = LdapConnection(
            self._pool.open(state, **options), state, self._pool, self._operations
        )
        if bind_dn is None:
            return connection
        try:
            bound = connection.bind()
        except SOCKET_ERRORS:
            connection.close()
            raise
        if bound:
            return connection
        result = connection.result
        connection.close()
        raise _refusal(state.uri, bind_dn, result)


def _refusal(uri: str, bind_dn: str, result: dict) -> Exception:
    """What a bind that did not succeed means, from its result."""
    code = result.get("result")
    message = result.get("message") or ""
    if code == RESULT_INVALID_CREDENTIALS:
        return InvalidCredentials(
            f"bind refused for {bind_dn}: {message or 'invalid credentials'}",
            reason=ad_bind_reason(message) or "bad_password",
        )
    error = f"bind answered {code} {result.get('description')}: {message}"
    if code in (RESULT_STRONGER_AUTH_REQUIRED, RESULT_CONFIDENTIALITY_REQUIRED):
        error += " (the server wants TLS: use ldaps:// or start_tls = true)"
    if code in (RESULT_BUSY, RESULT_UNAVAILABLE) or code is None:
        return _TryNextServer(error)
    return DirectoryUnavailable(f"{uri}: {error}", reason=reasons.BIND_ERROR)
