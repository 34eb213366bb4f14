"""The plugin's tables in ``[mlflow] database_uri``, and the few MLflow columns it reads.

Plugin tables (versioned with alembic, own version table ``alembic_version_ldap_auth``
next to MLflow's ``alembic_version_auth``, upgraded at server start):

* ``ldap_auth_groups``: one row per mapped directory group (stable id, current DN,
  display name, admin-mapping flag);
* ``ldap_auth_users``: the directory users this plugin provisioned or adopted (an
  MLflow user row without one here was made by someone else, e.g. basic-auth);
* ``ldap_auth_login_accounts`` / ``ldap_auth_login_attempts``: the password-spraying
  guard's counters, shared by every worker and server on the database.

MLflow's own tables are only *read*, and only in ``mlflow_compat.mlflow_tables``.
"""

from __future__ import annotations

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
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
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
    sa.Column("touched_at_ms", sa.BigInteger, nullable=False),
)

login_attempts = sa.Table(
    "ldap_auth_login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(512), nullable=False, index=True),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
)


def create_engine(database_uri: str) -> sa.engine.Engine:
    return sa.create_engine(database_uri, pool_pre_ping=True)


def migrate(engine: sa.engine.Engine) -> None:
    """Bring the plugin's schema to the newest revision (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
