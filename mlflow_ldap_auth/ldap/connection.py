"""One connection to one server, and the spy that counts the LDAP operations sent on it.

Every bind and search the plugin sends goes through ``LdapConnection``, which counts
it in the ``OperationCounter`` before sending (the counts are reported by the status
API and asserted by tests, so they must not miss an operation) and reports its
duration to the metrics (``mlflow_ldap_auth_directory_request_seconds``) when the
server has answered or failed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal, overload

import ldap3
from ldap3.core import exceptions as ldap_exc

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import DirectoryUnavailable, SearchRefused
from mlflow_ldap_auth.ldap.dn import InvalidDn, canonical_dn
from mlflow_ldap_auth.ldap.servers import (
    SOCKET_ERRORS,
    ServerPool,
    ServerState,
    close_connection,
    describe_socket_error,
)
from mlflow_ldap_auth.metrics import NULL_METRICS, Metrics

RESULT_SUCCESS = 0
RESULT_NO_SUCH_OBJECT = 32
#: Result codes by which a server says it cannot work now (busy, unavailable): an outage.
RESULTS_OF_AN_OUTAGE = (51, 52)

OperationKind = Literal["binds", "searches"]


@dataclass
class OperationCounter:
    """LDAP operations sent, by kind (a spy for tests and the status page)."""

    binds: int = 0
    searches: int = 0
    #: Where each operation's duration goes.
    metrics: Metrics = field(default=NULL_METRICS, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: OperationKind) -> None:
        with self._lock:
            setattr(self, kind, getattr(self, kind) + 1)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"binds": self.binds, "searches": self.searches}


class StaleConnection(Exception):
    """A pooled connection failed mid-operation (server restarted, idle timeout)."""


class LdapConnection:
    """An open ldap3 connection and the server it reached (to mark it down on a timeout)."""

    def __init__(
        self,
        connection: ldap3.Connection,
        state: ServerState,
        pool: ServerPool,
        operations: OperationCounter,
    ) -> None:
        self._connection = connection
        self.state = state
        self._pool = pool
        self._operations = operations

    @property
    def result(self) -> dict:
        """The last operation's result (``result`` code, ``description``, ``message``)."""
        return self._connection.result or {}

    def bind(self) -> bool:
        """Bind with the credentials the connection was opened with; raises socket errors."""
        self._operations.add("binds")
        started = time.monotonic()
        try:
            return self._connection.bind()
        finally:
            self._observe("bind", started)

    def _observe(self, operation: str, started: float) -> None:
        self._operations.metrics.directory_request(
            operation, self.state.host_port, time.monotonic() - started
        )

    def search(
        self, base: str, search_filter: str, scope: str, attributes: list[str]
    ) -> list[dict]:
        """The entries found (none for noSuchObject); ``StaleConnection`` on a socket error."""
        self._operations.add("searches")
        started = time.monotonic()
        try:
            ok = self._connection.search(
                base, search_filter, search_scope=scope, attributes=attributes, size_limit=0
            )
        except SOCKET_ERRORS as exc:
            self._observe("search", started)
            error = describe_socket_error(exc)
            if isinstance(exc, ldap_exc.LDAPResponseTimeoutError):
                # A server that stops answering is down, not just this connection.
                self._pool.mark(self.state, error, started)
            raise StaleConnection(error) from None
        self._observe("search", started)
        result = self.result
        code = result.get("result")
        if not ok and code not in (RESULT_SUCCESS, RESULT_NO_SUCH_OBJECT):
            refused = code not in RESULTS_OF_AN_OUTAGE
            raise (SearchRefused if refused else DirectoryUnavailable)(
                f"search under {base} failed: {code} "
                f"{result.get('description')}: {result.get('message')}",
                reason=reasons.SEARCH_ERROR,
            )
        return [
            entry
            for entry in self._connection.response or []
            if entry.get("type") == "searchResEntry"
        ]

    def close(self) -> None:
        close_connection(self._connection)


@overload
def wire_dn(dn: str) -> str: ...
@overload
def wire_dn(dn: None) -> None: ...
@overload
def wire_dn(dn: str | None) -> str | None: ...


def wire_dn(dn: str | None) -> str | None:
    """A configured DN in the strict spelling ldap3 sends; AD bind names pass unchanged.

    Operators type DNs as ``OU=Groups, DC=corp``; ldap3 refuses spaces around
    separators in a search base or bind DN, so they are respelled (RFC 4514).
    """
    if dn is None:
        return None
    try:
        return canonical_dn(dn)
    except InvalidDn:
        return dn  # user@realm or DOMAIN\\user (bind_dn), checked by the configuration
