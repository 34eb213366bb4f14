"""Which MLflow user rows belong to directory users, and the break-glass password's version.

MLflow's user store cannot tell who made a row: this plugin at a first login, or
basic-auth before the plugin was installed (with an admin flag and a known password).
``ldap_auth_users`` records every row the plugin provisioned or adopted, so a directory
user whose name matches a row made elsewhere *adopts* it once (keeps its per-user
grants, never its admin flag) instead of silently inheriting it.

Whether a name is the plugin's is read at every fresh login, one statement in
autocommit (``db.autocommit``); a first login then writes MLflow's row, this record and
the user's managed role assignments in one transaction (``create_directory_user``).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from mlflow_ldap_auth.db import autocommit, tables
from mlflow_ldap_auth.mlflow_compat import mlflow_tables

PROVISIONED = "provisioned"
ADOPTED = "adopted"


@dataclass(frozen=True)
class Created:
    """A directory user's rows, made at a first login."""

    user_id: int
    #: The managed roles asked for were assigned in the same transaction.
    roles_assigned: bool


class AccountStore:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self._alone = autocommit.of(engine)

    def is_known(self, username: str) -> bool:
        return self._alone.read(lambda engine: _is_known(engine, username))

    def create_directory_user(
        self, username: str, is_admin: bool, roles: Collection[int] = ()
    ) -> Created | None:
        """MLflow's user row, this plugin's record of it and the managed ``roles``
        assigned, in one transaction.

        None (and nothing written) when either row exists already: a concurrent first
        login won, or MLflow has a row of that name this plugin did not make. When one
        of ``roles`` was deleted meanwhile, the rows are made without roles
        (``roles_assigned`` False: the role sync assigns what is left). Without the
        pool's ping (``Autocommit.transaction``); made again through the plugin's engine
        if the connection failed, where a first run that committed makes it None.
        """
        return self._alone.transaction(lambda begin: _create(begin, username, is_admin, roles))

    def adopt(self, username: str, is_admin: bool) -> bool | None:
        """Record MLflow's row of ``username``, made elsewhere, as adopted and give it
        the directory's admin flag, in one transaction; the flag the row had.

        None, and nothing written, when another login recorded the name first (it
        adopted or provisioned it) or the row is gone. The record is written first, so
        concurrent adoptions of one name wait for each other on its key (PostgreSQL's
        unique index, SQLite's write lock): the one that records it reads the flag as
        the row had it before any of them wrote.
        """
        try:
            with self.engine.begin() as connection:
                _record(connection, username, ADOPTED)
                before = mlflow_tables.replace_admin_flag(connection, username, is_admin)
                if before is None:
                    raise _RowGone
        except (sa.exc.IntegrityError, _RowGone):
            return None
        return before

    def create_user_row(self, username: str, is_admin: bool) -> bool:
        """MLflow's user row alone; False when it exists already."""
        try:
            with self.engine.begin() as connection:
                mlflow_tables.insert_directory_user(connection, username, is_admin)
        except sa.exc.IntegrityError:
            return False
        return True

    def stored_password_hash(self, username: str) -> str | None:
        """MLflow's stored hash for a local account, read past every cache.

        It changes whenever the password does, so it is the *version* under which a
        verified break-glass password is remembered: a rotation through any worker or
        server invalidates every worker's memory at its next request.
        """
        return mlflow_tables.password_hash(self.engine, username)


class _RowGone(Exception):
    """MLflow's row was deleted before it could be adopted: nothing is written."""


def _create(
    begin: autocommit.Begin, username: str, is_admin: bool, roles: Collection[int]
) -> Created | None:
    for with_roles in (True, False) if roles else (False,):
        try:
            with begin() as connection:
                user_id = mlflow_tables.insert_directory_user(connection, username, is_admin)
                _record(connection, username, PROVISIONED)
                if with_roles:
                    mlflow_tables.assign_roles(connection, user_id, roles)
        except sa.exc.IntegrityError:
            continue
        return Created(user_id, roles_assigned=with_roles)
    return None


def _is_known(engine: sa.engine.Engine, username: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(tables.users.c.username).where(tables.users.c.username == username)
        ).first()
    return row is not None


def _record(connection: sa.engine.Connection, username: str, origin: str) -> None:
    """The row saying ``username`` is the plugin's (raises ``IntegrityError`` if it is)."""
    connection.execute(
        tables.users.insert().values(username=username, origin=origin, created_at=int(time.time()))
    )
