"""The plugin's tables in ``[mlflow] database_uri``, and the few MLflow columns it reads.

Plugin tables (versioned with alembic, own version table ``alembic_version_ldap_auth``
next to MLflow's ``alembic_version_auth``, upgraded at server start):

* ``ldap_auth_groups``: one row per mapped directory group (stable id, current DN,
  display name, admin-mapping flag);
* ``ldap_auth_users``: the directory users this plugin provisioned or adopted (an
  MLflow user row without one here was made by someone else, e.g. basic-auth);
* ``ldap_auth_login_accounts`` / ``ldap_auth_login_attempts``: the password-spraying
  guard's counters, shared by every worker and server on the database; expired rows
  are purged and the accounts capped (``auth.lockout``);
* ``ldap_auth_tokens``: access tokens (docs/tokens.md), the secret only as a SHA-256 hash;
* ``ldap_auth_token_owners``: one guard row per token owner, written first by every
  token creation, so concurrent creations of one user take turns (the limits hold);
* ``ldap_auth_user_checks``: per directory user, the last successful check of the
  directory entry (a login or a revalidation), what it found, and who is checking now,
  so a fleet of servers checks each active user once per interval;
* ``ldap_auth_sessions``: browser sessions (``sessions.store``): a public handle, the
  secret only as a SHA-256 hash, when it was made, last seen, ends, or ended and why;
* ``ldap_auth_audit``: the activity table (docs/operations.md#activity), every audit record of every
  worker (``activity.recorder``), kept ``audit_retention_days`` and at most
  ``activity.recorder.MAX_ROWS`` rows; never a password or token secret.

MLflow's own tables are only *read*, and only in ``mlflow_compat.mlflow_tables``.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

VERSION_TABLE = "alembic_version_ldap_auth"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

metadata = sa.MetaData()

groups = sa.Table(
    "ldap_auth_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("group_uuid", sa.String(64), nullable=False, unique=True),
    sa.Column("group_dn", sa.String(2048), nullable=False),
    sa.Column("display_name", sa.String(512), nullable=True),
    # Indexed: a login reads "the admin mappings, and these groups" in one statement
    # (mappings.store.relevant_to), which is two index look-ups with it and a scan of
    # every mapped group without it.
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False, index=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

users = sa.Table(
    "ldap_auth_users",
    metadata,
    sa.Column("username", sa.String(255), primary_key=True),
    sa.Column("origin", sa.String(16), nullable=False),  # "provisioned" or "adopted"
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

login_accounts = sa.Table(
    "ldap_auth_login_accounts",
    metadata,
    sa.Column("account", sa.String(512), primary_key=True),
    sa.Column("touched_at_ms", sa.BigInteger, nullable=False, index=True),
)

login_attempts = sa.Table(
    "ldap_auth_login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(512), nullable=False, index=True),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    #: When the attempt stops counting (epoch ms): the account's window at the time.
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False, server_default="0", index=True),
)


tokens = sa.Table(
    "ldap_auth_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_by", sa.String(255), nullable=True),
)

token_owners = sa.Table(
    "ldap_auth_token_owners",
    metadata,
    sa.Column("owner", sa.String(255), primary_key=True),
    #: The last creation attempt (epoch s); the write is what serializes them.
    sa.Column("touched_at", sa.BigInteger, nullable=False),
)

user_checks = sa.Table(
    "ldap_auth_user_checks",
    metadata,
    sa.Column("username", sa.String(255), primary_key=True),
    #: Last time the directory answered about this user (epoch s).
    sa.Column("checked_at", sa.BigInteger, nullable=False),
    #: ``ok`` or why the account may not log in (``gone``, ``disabled``, ...).
    sa.Column("status", sa.String(32), nullable=False),
    #: pwdChangedTime / pwdLastSet as last seen (a change evicts cached passwords).
    sa.Column("password_marker", sa.String(64), nullable=True),
    #: A worker checking this user right now holds the claim until then (epoch s).
    sa.Column("claimed_until", sa.BigInteger, nullable=False, default=0),
    #: Which claim (a random mark per claiming round) holds the row.
    sa.Column("claimed_by", sa.String(32), nullable=True),
)

sessions = sa.Table(
    "ldap_auth_sessions",
    metadata,
    #: The public handle (lists, ending one): random, unrelated to the secret.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False, index=True),
    #: SHA-256 of the session secret (the cookie's value); the secret is never stored.
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    #: The last request (epoch s), written at most once a minute per session.
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    #: ``created_at`` + the absolute lifetime at sign-in.
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    #: The owner's pwdChangedTime / pwdLastSet at sign-in: a change ends the session.
    sa.Column("password_marker", sa.String(64), nullable=True),
    #: The client's address at sign-in.
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("ended_at", sa.BigInteger, nullable=True),
    #: An audit reason of ``session_ended`` (``logout``, ``idle``, ``owner_disabled``, ...).
    sa.Column("ended_reason", sa.String(64), nullable=True),
    #: Who ended it (None when a request found it over).
    sa.Column("ended_by", sa.String(255), nullable=True),
)

audit = sa.Table(
    "ldap_auth_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    #: When the decision or change happened (epoch ms, UTC).
    sa.Column("ts_ms", sa.BigInteger, nullable=False, index=True),
    sa.Column("event", sa.String(64), nullable=False),
    #: As typed (a refused login) or canonical; None where nobody is named.
    sa.Column("username", sa.String(255), nullable=True, index=True),
    #: The client's address, if the event had one.
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("result", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    #: JSON object: the record's other fields (dn, groups, token_id, before/after, ...).
    sa.Column("details", sa.Text, nullable=False),
)


#: How long a write on SQLite waits for the database's one write lock (s). The
#: driver's default, 5 s, is reached in a login storm on a busy machine; MLflow's own
#: tracking store waits 20 s.
SQLITE_LOCK_WAIT_SECONDS = 30

#: Connections each of the plugin's pools keeps open on a database server, and how many
#: more it opens under a burst (closed again when they come back). SQLAlchemy's default
#: keeps 5: in a login storm (16 requests at once per worker) most connections were
#: opened for one request and closed after it, each a new PostgreSQL backend. The cap,
#: 15 per pool and worker, stays SQLAlchemy's default.
POOL_SIZE = 10
POOL_OVERFLOW = 5


def create_engine(database_uri: str) -> sa.engine.Engine:
    """The plugin's engine on ``database_uri``; on SQLite its write transactions queue.

    SQLite has one write lock per file, and a writer that finds it taken sleeps in
    growing steps (up to 0.1 s) before it looks again. With dozens of threads of one
    worker writing at once (a first-login storm) most of the time goes to those sleeps.
    So on SQLite the transactions this engine opens with ``begin()`` (every write the
    plugin makes) take a lock of the process first: threads of a worker wait for
    each other in order, and only the worker processes meet at SQLite's lock.
    """
    url = sa.engine.make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, **_pool_sizes(url))
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url))
    begin = engine.begin
    writing = threading.RLock()  # re-entrant: a write may open another one in its thread

    @contextlib.contextmanager
    def begin_in_turn():
        with writing, begin() as connection:
            yield connection

    engine.begin = begin_in_turn  # type: ignore[method-assign]  # deliberate: its writes take turns
    return engine


def _pool_sizes(url: sa.engine.URL) -> dict:
    """The pool's sizes on a database server (``POOL_SIZE``); SQLite keeps its own."""
    if url.get_backend_name() == "sqlite":
        return {}
    return {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}


def _connect_args(url: sa.engine.URL) -> dict:
    """What every connection to ``url`` is opened with beyond the URL itself."""
    if url.get_backend_name() == "sqlite":
        return {"timeout": SQLITE_LOCK_WAIT_SECONDS}
    return {}


def create_read_engine(engine: sa.engine.Engine) -> sa.engine.Engine | None:
    """A second engine on ``engine``'s database for one-row reads in autocommit; None
    where no second connection sees the same data (one in-memory SQLite database).

    The same URL, connect arguments and pool sizes as ``engine``, but no
    ``pool_pre_ping`` and no reset on check-in: in autocommit a read leaves no
    transaction to end, so a read is one round trip.
    """
    if isinstance(engine.pool, (sa.pool.StaticPool, sa.pool.SingletonThreadPool)):
        return None
    return sa.create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_reset_on_return=None,
        connect_args=_connect_args(engine.url),
        **_pool_sizes(engine.url),
    )


def migrate(engine: sa.engine.Engine) -> None:
    """Bring the plugin's schema to the newest revision (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
