"""What a login asks of PostgreSQL, counted: statements, transactions, connections.

Counts do not move with the machine's other load, so they are the before/after figure
of a change that saves round trips; the storm's rate and p99 are not (a shared 2-core
machine moves them by a factor of two between runs).

Two counts:

* ``DatabaseTotals`` (``pg_stat_database``): transactions committed and rolled back,
  and sessions opened, on one database between two readings. Cheap, so it is read
  around the storm itself. A statement in autocommit is a transaction of its own here.
* ``statements_of``: PostgreSQL's statement log (``log_statement = all``, switched on
  with ``ALTER SYSTEM`` and a reload only while it counts) over a few logins made one
  at a time, each line sorted by kind: the pool's ``pool_pre_ping`` (an empty
  statement, ``;``, on psycopg 3),
  ``BEGIN``, ``COMMIT``, ``ROLLBACK`` (a read's transaction ended when its connection
  goes back to the pool), and the other statements by verb and table. With psycopg 3
  each of them is one round trip (``BEGIN`` too: it is sent before a transaction's
  first statement), and each new connection is several more. Logging costs
  PostgreSQL CPU, so these logins are not part of the timed storm. Statement
  parameters are logged in ``DETAIL`` lines, which are skipped: only the SQL's shape
  is read, and the log is the throwaway instance's.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

#: ``LOG:  statement: SQL`` (simple protocol) or ``LOG:  execute <name>: SQL`` (extended).
_STATEMENT = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)$")
_CONNECTION = re.compile(r"LOG:  connection authorized: ")
#: What the count switches on, and off again after it.
_LOGGING = (
    ("log_statement", "all"),
    ("log_connections", "on"),
    ("log_line_prefix", "%m [%p] db=%d "),
)
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?(\w+)", re.IGNORECASE)


@dataclass
class DatabaseTotals:
    """``pg_stat_database`` counters of one database."""

    commits: int = 0
    rollbacks: int = 0
    sessions: int = 0

    @classmethod
    def read(cls, admin_uri: str, database: str) -> DatabaseTotals:
        engine = sa.create_engine(admin_uri, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                # The statistics of a transaction are sent when it ends; a backend
                # sends them at most once a second (PGSTAT_MIN_INTERVAL).
                connection.execute(sa.text("SELECT pg_stat_force_next_flush()"))
                connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
                row = connection.execute(
                    sa.text(
                        "SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database "
                        "WHERE datname = :name"
                    ),
                    {"name": database},
                ).one()
        finally:
            engine.dispose()
        return cls(int(row[0]), int(row[1]), int(row[2]))

    def __sub__(self, other: DatabaseTotals) -> DatabaseTotals:
        return DatabaseTotals(
            self.commits - other.commits,
            self.rollbacks - other.rollbacks,
            self.sessions - other.sessions,
        )


def settled_totals(admin_uri: str, database: str, wait: float = 1.5) -> DatabaseTotals:
    """The counters once every backend has reported its last transactions."""
    time.sleep(wait)  # backends flush their statistics at most once a second
    return DatabaseTotals.read(admin_uri, database)


@dataclass
class StatementCount:
    """Statements PostgreSQL logged over ``logins`` logins, by kind."""

    logins: int = 0
    kinds: Counter = field(default_factory=Counter)
    connections: int = 0

    def add(self, statement: str) -> None:
        self.kinds[kind_of(statement)] += 1

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def per_login(self, kind: str | None = None) -> float:
        count = self.total if kind is None else self.kinds[kind]
        return count / max(1, self.logins)

    def lines(self) -> list[str]:
        """One line per kind, most frequent first, counts per login."""
        logins = max(1, self.logins)
        return [f"{count / logins:6.2f}  {kind}" for kind, count in self.kinds.most_common()]


def kind_of(statement: str) -> str:
    """``pool_pre_ping``, ``BEGIN``, ``COMMIT``, ``ROLLBACK``, or ``VERB table``."""
    text = " ".join(statement.split())
    upper = text.upper()
    if upper in (";", "SELECT 1", "SELECT 1;"):
        return "pool_pre_ping"
    if upper in ("BEGIN", "COMMIT", "ROLLBACK"):
        return upper
    verb = upper.split(" ", 1)[0]
    table = _TABLE.search(text)
    return f"{verb} {table.group(1) if table else '?'}"


def _set_logging(admin_uri: str, on: bool) -> None:
    engine = sa.create_engine(admin_uri, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for setting, value in _LOGGING:
                if on:
                    connection.execute(sa.text(f"ALTER SYSTEM SET {setting} = '{value}'"))
                else:
                    connection.execute(sa.text(f"ALTER SYSTEM RESET {setting}"))
            connection.execute(sa.text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()
    time.sleep(0.5)  # every backend has read the new settings before its next statement


def statements_of(
    admin_uri: str, log: Path, database: str, logins: list[Callable[[], None]]
) -> StatementCount:
    """Run ``logins`` one after another with the statement log on; count what the
    backends on ``database`` logged (the counter's own connections are on another
    database, ``admin_uri``'s, and left out)."""
    _set_logging(admin_uri, True)
    start = log.stat().st_size
    try:
        for login in logins:
            login()
        time.sleep(1.0)  # the audit log's writer flushes within a second
    finally:
        _set_logging(admin_uri, False)
    count = StatementCount(logins=len(logins))
    with log.open(errors="replace") as handle:
        handle.seek(start)
        statement: list[str] | None = None
        for line in handle:
            if line.startswith("\t") and statement is not None:
                statement.append(line)
                continue
            if statement is not None:
                count.add("".join(statement))
                statement = None
            if f" db={database} " not in line:
                continue
            if _CONNECTION.search(line):
                count.connections += 1
            match = _STATEMENT.search(line.rstrip("\n"))
            if match:
                statement = [match.group(1)]
        if statement is not None:
            count.add("".join(statement))
    return count
