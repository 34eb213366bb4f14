"""One read on every request, on connections of its own: no pool, no ping, no transaction.

A session is checked against its row on every request (a sign-out anywhere is
refused by the next request everywhere: ``sessions.authenticator``), so that read is
the whole price of a warm session check. Through an SQLAlchemy ``Connection`` it cost
about 140 µs on SQLite and 730-860 µs on PostgreSQL (profiled with cProfile,
2026-12-07): building the ``select`` and its cache key, the pool checkout with
``pool_pre_ping`` (one more round trip), the result's metadata, and on PostgreSQL the
``ROLLBACK`` the pool sends when the connection goes back (a third round trip). The
row itself is one look-up in a unique index.

``DirectRead`` sends one statement, compiled once for the engine's dialect, as its
driver's own SQL on plain DB-API connections that it keeps itself, each with its
cursor: taken from and given back to a list (atomic under the GIL: no lock), in
autocommit, so a read holds no
transaction (PostgreSQL sees every commit, vacuum and DDL are not held up) and, with
``fetchall``, no SQLite read lock once it has returned. One round trip a request.

The connections come from the engine (``raw_connection``, then ``detach``: the same
driver, URL and connect arguments as the engine's, outside its pool). There is no ping:
a connection that fails (the database restarted, dropped it, or is gone) is closed with
every other kept one, and the caller reads through the engine instead (``Unread``:
``pool_pre_ping`` reconnects there, or the engine raises what it always raised), so a
database back on its address is served by the first request after it.
Kept connections are closed when the engine is disposed or this object is collected, and
forgotten unclosed in a forked child (the parent still uses them). An engine on one
in-memory SQLite database (``StaticPool``, ``SingletonThreadPool``) has no other
connection to the same data: there, ``first`` always raises ``Unread``.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

#: Connections kept between reads per worker, as many as SQLAlchemy's pool keeps by
#: default (``pool_size``): more are opened under a burst and closed after it. On
#: PostgreSQL they count against ``max_connections`` beside the engine's pool.
KEEP = 5

#: Every ``DirectRead`` of each engine (one ``engine_disposed`` listener per engine).
_by_engine: weakref.WeakKeyDictionary[sa.engine.Engine, weakref.WeakSet[DirectRead]] = (
    weakref.WeakKeyDictionary()
)


def _of(engine: sa.engine.Engine) -> list[DirectRead]:
    return list(_by_engine.get(engine, ()))


def _close_engines(engine: sa.engine.Engine) -> None:
    for instance in _of(engine):
        instance.close()


def _forget_all_inherited() -> None:
    for engine in list(_by_engine):
        for instance in _of(engine):
            instance.forget_inherited()


os.register_at_fork(after_in_child=_forget_all_inherited)


def _close_all(kept: list) -> None:
    """Close every (connection, cursor) pair in ``kept``, emptying it."""
    while kept:
        # Closing a broken connection may fail; it is gone all the same.
        with contextlib.suppress(Exception):
            kept.pop()[0].close()


class Unread(Exception):
    """This read could not be made here: read through the engine."""


class DirectRead:
    """``first(value)``: the one row ``statement`` selects for its one bound parameter."""

    def __init__(self, engine: sa.engine.Engine, statement: sa.Select, *, keep: int = KEEP) -> None:
        self._engine = engine
        self._keep = keep
        self.usable = not isinstance(engine.pool, (sa.pool.StaticPool, sa.pool.SingletonThreadPool))
        compiled = statement.compile(dialect=engine.dialect)
        (name,) = compiled.params
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._name = name
        self._error = engine.dialect.loaded_dbapi.Error
        #: (connection, cursor) pairs between reads.
        self._idle: list[tuple[Any, Any]] = []
        weakref.finalize(self, _close_all, self._idle)
        if engine not in _by_engine:
            _by_engine[engine] = weakref.WeakSet()
            sa.event.listen(engine, "engine_disposed", _close_engines)
        _by_engine[engine].add(self)

    def first(self, value: Any) -> Sequence | None:
        """The row (a tuple), None for none; ``Unread`` when the engine must read it."""
        if not self.usable:
            raise Unread("one in-memory database")
        try:
            kept = self._idle.pop()
        except IndexError:
            kept = self._connect()
        cursor = kept[1]
        try:
            cursor.execute(self._sql, (value,) if self._positional else {self._name: value})
            rows = cursor.fetchall()
        except self._error:
            _close_all([kept])
            self.close()  # the others are as stale: a restart dropped them all
            raise Unread("the connection failed") from None
        if len(self._idle) < self._keep:
            self._idle.append(kept)
        else:
            _close_all([kept])
        return rows[0] if rows else None

    def _connect(self) -> tuple[Any, Any]:
        """A new connection outside the pool, and its cursor (kept: one less object a read)."""
        proxied = self._engine.raw_connection()
        proxied.detach()
        connection = proxied.dbapi_connection
        if connection is None:  # the pool gave a connection without its DB-API object
            raise Unread("no connection")
        connection.rollback()  # nothing to end, normally: the pool ended it; then no I/O
        self._engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
        return connection, connection.cursor()

    @property
    def kept(self) -> int:
        """Connections kept between reads now."""
        return len(self._idle)

    def close(self) -> None:
        """Close the kept connections (the next read opens one again)."""
        _close_all(self._idle)

    def forget_inherited(self) -> None:
        """In a forked child: drop the parent's connections without closing them."""
        self._idle.clear()
