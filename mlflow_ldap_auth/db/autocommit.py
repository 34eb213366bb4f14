"""A login's reads and short writes in one round trip each: an engine of their own, no ping.

Through the plugin's engine on PostgreSQL a one-statement read is four round trips:
``pool_pre_ping``'s ``SELECT 1`` at checkout, ``BEGIN`` (psycopg 3 sends it before a
transaction's first statement), the statement, and the ``ROLLBACK`` the pool sends when
the connection goes back. A first login made about ten such short transactions, and in
a login storm two thirds of its wall time waited on those round trips
(docs/performance.md#login-storm-on-postgresql).

``Autocommit.read(use)`` calls ``use(engine)`` with a second engine on the same database
(``tables.create_read_engine``: the same URL and connect arguments, autocommit, no ping,
no reset on check-in), so each statement ``use`` makes is its own transaction, one round
trip. Nothing is lost for a read: at PostgreSQL's (and the plugin's) READ COMMITTED
each statement of a transaction takes its own snapshot anyway. ``write(use)`` does the
same for writes whose statements each stand alone and leave the same rows when made
again (deleting rows by key; a row's update, or its insert when there was none): each
commits as it runs. ``transaction(use)`` runs a login's short write transaction on the
same connections, without the ping: ``use(begin)``, where ``with begin() as connection``
is a transaction (psycopg 3 starts it with ``BEGIN``, the first round trip; autocommit
is a client-side switch, turned off for it and on again at check-in). On SQLite the
writes stay on the plugin's engine, where the writes of a process take turns
(``tables.create_engine``), and on one in-memory database (no second connection sees
it) everything does.

There is no ping: a connection that fails (the database restarted, a failover, an idle
connection dropped) raises; SQLAlchemy invalidates it, and on a disconnect every older
connection of the pool with it, and the call is made once more through the plugin's
engine, whose ``pool_pre_ping`` reconnects, or which raises what it always raised. So a
database back on its address is served by the first request after it, as the session
read does (``sessions.direct_read``).

One ``Autocommit`` per plugin engine (``of(engine)``), shared by every store on it and
by the session check's read (``sessions.direct_read``): one more pool per worker, not
one per store. It is disposed with the plugin's engine; in a
forked process, which first disposes the plugin's engine with ``close=False`` (per
SQLAlchemy's docs on pools and multiprocessing), without closing the parent's
connections.

A transaction that failed on its connection is run again through the plugin's engine:
nothing was written, unless the connection failed between ``COMMIT`` and its answer
(a database going down at that instant). ``use`` must then find what the first run
wrote and accept it: a row's key taken, as a concurrent login's would be; a spraying
guard's slot counted twice, until it expires, which only errs on the guard's side.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

import sqlalchemy as sa

from mlflow_ldap_auth.db import tables

T = TypeVar("T")
#: ``with begin() as connection``: a transaction (``Engine.begin``'s form).
Begin = Callable[[], AbstractContextManager[sa.engine.Connection]]

#: The engine's attribute that holds its ``Autocommit`` (an attribute, not a weak map
#: from engine to it: the value refers to its engine, so such an entry never went away).
_ATTRIBUTE = "_mlflow_ldap_auth_autocommit"
_making = threading.Lock()


def of(engine: sa.engine.Engine) -> Autocommit:
    """The one ``Autocommit`` of the plugin's ``engine``."""
    with _making:
        found = getattr(engine, _ATTRIBUTE, None)
        if found is None:
            found = Autocommit(engine)
            setattr(engine, _ATTRIBUTE, found)
        return found


def _follow_disposal(engine: sa.engine.Engine, second: sa.engine.Engine) -> None:
    """Dispose ``second`` with ``engine``; the first time in a forked process, without
    closing the connections (they are the parent's), then as anywhere."""
    connections_of = [os.getpid()]

    def disposed(_engine: sa.engine.Engine) -> None:
        here = os.getpid()
        second.dispose(close=here == connections_of[0])
        connections_of[0] = here

    sa.event.listen(engine, "engine_disposed", disposed)


def _failed_connection(error: sa.exc.DBAPIError) -> bool:
    """Whether ``error`` says the connection (or connecting) failed, not the statement."""
    return error.connection_invalidated or isinstance(
        error, (sa.exc.OperationalError, sa.exc.InterfaceError)
    )


class Autocommit:
    def __init__(self, engine: sa.engine.Engine) -> None:
        #: The plugin's engine: every call's second try, and all of them without ``alone``.
        self.engine = engine
        #: The autocommit engine; None where no second connection sees the same data.
        self.alone = tables.create_read_engine(engine)
        self._writes_alone = self.alone is not None and engine.dialect.name != "sqlite"
        if self.alone is not None:
            _follow_disposal(engine, self.alone)
            weakref.finalize(self, self.alone.dispose)

    def read(self, use: Callable[[sa.engine.Engine], T]) -> T:
        """``use(engine)``: reads only, each statement committed on its own."""
        return self._run(use, self.alone)

    def write(self, use: Callable[[sa.engine.Engine], T]) -> T:
        """``use(engine)``: statements that each stand alone, harmless when made again
        (they may be: through the plugin's engine after a failed connection)."""
        return self._run(use, self.alone if self._writes_alone else None)

    def transaction(self, use: Callable[[Begin], T]) -> T:
        """``use(begin)``: one short write transaction, ``with begin() as connection``.

        ``use`` may run twice (see the module's docstring): after a failed connection,
        through the plugin's engine.
        """
        if not self._writes_alone:
            return use(self.engine.begin)
        try:
            return use(self._begin_alone)
        except sa.exc.DBAPIError as error:
            if not _failed_connection(error):
                raise
        return use(self.engine.begin)

    @contextmanager
    def _begin_alone(self) -> Iterator[sa.engine.Connection]:
        assert self.alone is not None
        with self.alone.connect() as connection:
            # The database's own level, as the plugin's engine has it; autocommit is
            # back at check-in (SQLAlchemy restores the engine's level).
            connection.execution_options(isolation_level=connection.default_isolation_level)
            with connection.begin():
                yield connection

    def _run(self, use: Callable[[sa.engine.Engine], T], alone: sa.engine.Engine | None) -> T:
        if alone is None:
            return use(self.engine)
        try:
            return use(alone)
        except sa.exc.DBAPIError as error:
            if not _failed_connection(error):
                raise
        return use(self.engine)
