"""Connections bound as the service account (or anonymous), kept open for reuse.

Searches that need no user password (finding the user, their groups, group look-ups,
domain facts) run on these. An idle connection is reused (last in, first out, so
surplus ones age out on the server side); one that fails mid-operation is closed and
the work is retried once on a new one.

A connection that went stale says the server dropped it (a restart, an outage, an idle
timeout), and every idle one opened before it is as likely gone: they are all closed,
so the retry opens a new connection. Retrying on the next idle one instead turned an
outage into a 503 that never asked ``ServerPool`` (the server was not marked down, the
``directory_up`` gauge stayed 1) and a restarted directory into 503s until the stale
ones were used up.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.binding import Binder
from mlflow_ldap_auth.ldap.connection import LdapConnection, StaleConnection

_logger = logging.getLogger(__name__)

T = TypeVar("T")


class ServiceConnections:
    """Runs work on a pooled service-account connection; thread-safe."""

    def __init__(self, binder: Binder, bind_dn: str | None, bind_password: str | None) -> None:
        self._binder = binder
        self._bind_dn = bind_dn
        self._bind_password = bind_password
        self._idle: queue.LifoQueue[LdapConnection] = queue.LifoQueue()

    def run(self, work: Callable[[LdapConnection], T]) -> T:
        """``work(connection)`` on a service connection, retried once if it went stale."""
        for attempt in (1, 2):
            try:
                with self._borrowed() as connection:
                    return work(connection)
            except StaleConnection as exc:
                if attempt == 2:
                    raise DirectoryUnavailable(f"LDAP connection lost: {exc}") from None
                _logger.info("LDAP service connection went stale (%s); reconnecting", exc)
                self.close()
        raise AssertionError("unreachable")

    def check_bind(self) -> None:
        """Bind as the service account on a new connection (raises what the bind raised)."""
        self._binder.connect(self._bind_dn, self._bind_password).close()

    def close(self) -> None:
        """Close the idle connections (new ones are opened on demand)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    @contextmanager
    def _borrowed(self) -> Iterator[LdapConnection]:
        """An idle connection or a new one; back to the pool unless the work failed."""
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            try:
                connection = self._binder.connect(self._bind_dn, self._bind_password)
            except InvalidCredentials as exc:
                # The service account's own password is wrong: a configuration fault,
                # never the user's 401.
                raise DirectoryUnavailable(
                    f"service account bind refused ({exc}); check bind_dn / bind_password",
                    reason=reasons.SERVICE_BIND_REFUSED,
                ) from None
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        else:
            self._idle.put(connection)
