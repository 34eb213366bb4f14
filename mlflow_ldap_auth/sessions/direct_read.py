"""One read on every request, on the autocommit pool: no ping, no transaction, no reset.

A session is checked against its row on every request (a sign-out anywhere is
refused by the next request everywhere: ``sessions.authenticator``), so that read is
the whole price of a warm session check. Through the plugin's engine and a SQLAlchemy
``Connection`` it cost about 140-230 µs on SQLite and 540-860 µs on PostgreSQL
(cProfile, 2026-12-07): building the ``select`` and its cache key, the pool checkout
with ``pool_pre_ping`` (one more round trip), the result's metadata, and on PostgreSQL
the ``ROLLBACK`` the pool sends when the connection goes back (a third round trip).
The row itself is one look-up in a unique index.

``DirectRead`` reads on the plugin engine's second, autocommit engine (``db.autocommit``,
whose pool a login's one-row reads share; ``tables.create_read_engine``: the same URL,
connect arguments and pool sizes, no ping, no reset on check-in), so a read holds no
transaction (PostgreSQL sees every commit, vacuum and DDL are not held up) and, with
``fetchall``, no SQLite read lock once it has returned. SQLAlchemy's pool keeps the
connections: checkout, check-in, how many are kept and opened, disposal. The
statement is compiled once for the dialect and run as the driver's own SQL on the
pooled DB-API connection (``Engine.raw_connection``), with a cursor kept in the
connection's ``info`` (SQLAlchemy drops it with the connection). Measured
(2026-12-07, docs/performance.md#browser-sessions): a warm session check costs 27 µs of
CPU on a SQLite file and 101-113 µs on PostgreSQL; a ``Connection`` on the read engine
(``exec_driver_sql``: its execution context and the result's metadata) costs 40 µs more
per read on SQLite and 100-135 µs more on PostgreSQL; connections kept by hand (this
module before) cost 6-8 µs less on SQLite and 10-20 µs less on PostgreSQL: that is the
pool's checkout and check-in, the price of SQLAlchemy keeping the connections.

There is no ping: a read that fails is ``Unread`` and the caller reads through the
plugin's engine instead (``pool_pre_ping`` reconnects there, or the engine raises what
it always raised), so a database back on its address is served by the first request
after it. The failed connection is invalidated; on a disconnect (the dialect's
``is_disconnect``: a restart drops them all) the pool's idle connections are closed too
(``Pool.dispose``: one checked out meanwhile comes back to the same pool, and if it is
dead its own read fails the same way), so the next read connects anew.

Disposing the plugin's engine disposes the read engine (``db.autocommit``); in a
forked process (which, per SQLAlchemy's docs on pools and multiprocessing, calls
``engine.dispose(close=False)`` before it uses the plugin's engine) without closing the
parent's connections. One
in-memory SQLite database has no second connection to the same data: there ``first``
always raises ``Unread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mlflow_ldap_auth.db import autocommit

#: The key of a connection's kept cursor in its ``info``.
_CURSOR = "mlflow_ldap_auth.sessions.cursor"


class Unread(Exception):
    """This read could not be made here: read through the engine."""


class DirectRead:
    """``first(value)``: the one row ``statement`` selects for its one bound parameter."""

    def __init__(self, engine: sa.engine.Engine, statement: sa.Select) -> None:
        #: The autocommit engine of ``engine`` (``db.autocommit``, whose pool a login's
        #: reads share); None: every read goes through the caller's engine.
        self.engine = autocommit.of(engine).alone
        compiled = statement.compile(dialect=engine.dialect)
        (name,) = compiled.params
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._name = name
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def first(self, value: Any) -> Sequence | None:
        """The row (a tuple), None for none; ``Unread`` when the engine must read it."""
        if self.engine is None:
            raise Unread("one in-memory database")
        try:
            connection = self.engine.raw_connection()
        except sa.exc.DBAPIError:
            raise Unread("no connection") from None
        try:
            cursor = connection.info.get(_CURSOR)
            if cursor is None:
                cursor = connection.info[_CURSOR] = connection.cursor()
            cursor.execute(self._sql, (value,) if self._positional else {self._name: value})
            rows = cursor.fetchall()
        except self._error as error:
            self._failed(connection, error)
            raise Unread("the connection failed") from None
        finally:
            connection.close()  # back to the pool (a no-op after ``_failed``)
        return rows[0] if rows else None

    def _failed(self, connection: Any, error: Any) -> None:
        assert self.engine is not None
        dead = self.engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
        connection.invalidate(error)
        if dead:  # the idle ones are as dead: a restart dropped them all
            self.engine.pool.dispose()
