"""The few columns of MLflow's auth tables the plugin reads directly (never writes).

Reading them with SQL instead of through MLflow's store is deliberate, for two answers
the store cannot give cheaply: the login-time role sync needs only the ids of the
``ldap-group:*`` roles and of the ones assigned to one user (the store would load every
role with its permissions), and the break-glass admin's password hash must be read past
the permission cache on every request. Table and column names are checked against
MLflow's SQLAlchemy models by the contract test.
"""

from __future__ import annotations

import sqlalchemy as sa

roles = sa.table("roles", sa.column("id"), sa.column("name"))
user_role_assignments = sa.table(
    "user_role_assignments", sa.column("user_id"), sa.column("role_id")
)
users = sa.table("users", sa.column("username"), sa.column("password_hash"))

#: table name -> the columns read here (the contract test's input).
READ_COLUMNS = {
    table.name: {c.name for c in table.columns} for table in (roles, user_role_assignments, users)
}


def roles_named(engine: sa.engine.Engine, prefix: str) -> list[tuple[int, str]]:
    """(id, name) of MLflow roles whose name starts with ``prefix``."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(roles.c.id, roles.c.name).where(roles.c.name.startswith(prefix))
        )
        return [(row.id, row.name) for row in rows]


def assigned_role_ids(engine: sa.engine.Engine, user_id: int, prefix: str) -> set[int]:
    """Ids of the roles named ``prefix*`` assigned to MLflow user ``user_id``."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(user_role_assignments.c.role_id)
            .join(roles, roles.c.id == user_role_assignments.c.role_id)
            .where(user_role_assignments.c.user_id == user_id, roles.c.name.startswith(prefix))
        )
        return {row.role_id for row in rows}


def password_hash(engine: sa.engine.Engine, username: str) -> str | None:
    """MLflow's stored password hash of ``username`` (None: no such user)."""
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(users.c.password_hash).where(users.c.username == username)
        ).first()
    return row.password_hash if row else None
