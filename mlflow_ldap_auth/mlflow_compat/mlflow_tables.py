"""The few columns of MLflow's auth tables the plugin reads or writes directly.

Going past MLflow's store is deliberate, for answers and writes the store cannot make
cheaply:

* reads: the login-time role sync needs only the ids of the ``ldap-group:*`` roles and
  of the ones assigned to one user (the store would load every role with its
  permissions); the break-glass admin's password hash must be read past the permission
  cache on every request; a model or prompt rename needs only the managed grants on
  its two names (``grants_on_names``);
* writes, at a fresh login: a directory user's row (``insert_directory_user``: the
  store's ``create_user`` spends a scrypt hash, ~0.1 s of CPU, on a password nobody
  uses) and the user's managed role assignments in one transaction
  (``change_role_assignments``, ``assign_roles``; the store commits once per role);
  the admin flag of a row made elsewhere, in the transaction that adopts it
  (``replace_admin_flag``: the flag it had is read there, before any other login's
  write);
* once, at the upgrade to ``0007_canonical_experiment_ids``: the experiment grants of
  the plugin's roles stored as typed (``"002"``), rewritten to the id MLflow matches
  in place, so each keeps its mapping id (the store cannot change a grant's pattern).

Whoever calls a writer empties the permission cache, as the store's own writes do.
Table and column names are checked against MLflow's SQLAlchemy models by the contract
test.
"""

from __future__ import annotations

import sqlalchemy as sa

roles = sa.table("roles", sa.column("id"), sa.column("name"), sa.column("workspace"))
#: Written only by the migration that gives old experiment grants of the plugin's roles
#: the form MLflow matches on (``0007_canonical_experiment_ids``).
role_permissions = sa.table(
    "role_permissions",
    sa.column("id"),
    sa.column("role_id"),
    sa.column("resource_type"),
    sa.column("resource_pattern"),
    sa.column("permission"),
)
user_role_assignments = sa.table(
    "user_role_assignments", sa.column("user_id"), sa.column("role_id")
)
#: A ``Table`` (not a lightweight ``table``): its declared key makes an insert report the
#: new row's id.
users = sa.Table(
    "users",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(255)),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("is_admin", sa.Boolean),
)

#: table name -> the columns read or written here (the contract test's input).
READ_COLUMNS = {
    table.name: {c.name for c in table.columns}
    for table in (roles, role_permissions, user_role_assignments, users)
}

#: ``password_hash`` of a directory user's row. Not a hash: werkzeug's
#: ``check_password_hash`` (what MLflow's ``authenticate_user`` runs) answers False for
#: every password, because the value does not have the ``method$salt$hash`` form.
NO_LOCAL_PASSWORD = "!directory-account: no local password"


def roles_with_names(engine: sa.engine.Engine, names: list[str]) -> list[tuple[int, str]]:
    """(id, name) of MLflow roles named any of ``names`` (in every workspace)."""
    found: list[tuple[int, str]] = []
    with engine.connect() as connection:
        for start in range(0, len(names), 500):  # bound the statement's parameters
            rows = connection.execute(
                sa.select(roles.c.id, roles.c.name).where(
                    roles.c.name.in_(names[start : start + 500])
                )
            )
            found += [(row.id, row.name) for row in rows]
    return found


def grants_on_names(
    engine: sa.engine.Engine,
    role_prefix: str,
    workspace: str,
    resource_types: tuple[str, ...],
    patterns: set[str],
) -> list[sa.Row]:
    """The grants of the roles named ``role_prefix*`` in ``workspace`` on exactly
    ``resource_types`` x ``patterns``: rows of (id, role_name, resource_type,
    resource_pattern, permission), in grant id order.

    One statement, through the roles' (workspace, name) and the grants' role id indexes.
    Grants match a name by its exact spelling (MLflow's ``permissions.matches``), so
    what a case-insensitive database collation adds is dropped here.
    """
    if not patterns or not resource_types:
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                role_permissions.c.id,
                roles.c.name.label("role_name"),
                role_permissions.c.resource_type,
                role_permissions.c.resource_pattern,
                role_permissions.c.permission,
            )
            .join(roles, roles.c.id == role_permissions.c.role_id)
            .where(
                roles.c.workspace == workspace,
                roles.c.name.startswith(role_prefix),
                role_permissions.c.resource_type.in_(resource_types),
                role_permissions.c.resource_pattern.in_(sorted(patterns)),
            )
            .order_by(role_permissions.c.id)
        )
        return [row for row in rows if row.resource_pattern in patterns]


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


def insert_directory_user(connection: sa.engine.Connection, username: str, is_admin: bool) -> int:
    """A user row for a directory user (inside the caller's transaction); its id.

    Raises ``IntegrityError`` when the name is taken (a concurrent first login).
    """
    result = connection.execute(
        users.insert().values(
            username=username, password_hash=NO_LOCAL_PASSWORD, is_admin=bool(is_admin)
        )
    )
    return result.inserted_primary_key[0]  # type: ignore[index]  # one row: always set


def replace_admin_flag(
    connection: sa.engine.Connection, username: str, is_admin: bool
) -> bool | None:
    """``username``'s admin flag set to ``is_admin`` (inside the caller's transaction);
    the flag the row had, None when there is no such row."""
    before = connection.execute(
        sa.select(users.c.is_admin).where(users.c.username == username)
    ).scalar_one_or_none()
    if before is not None and bool(before) != bool(is_admin):
        connection.execute(
            users.update().where(users.c.username == username).values(is_admin=bool(is_admin))
        )
    return None if before is None else bool(before)


def change_role_assignments(
    engine: sa.engine.Engine, user_id: int, add: set[int], remove: set[int]
) -> None:
    """Assign roles ``add`` to and unassign ``remove`` from ``user_id``, one transaction.

    Raises ``IntegrityError`` when a concurrent login assigned one of ``add`` first (or
    a role was deleted meanwhile); nothing is written then.
    """
    if not add and not remove:
        return
    with engine.begin() as connection:
        if remove:
            connection.execute(
                user_role_assignments.delete().where(
                    user_role_assignments.c.user_id == user_id,
                    user_role_assignments.c.role_id.in_(sorted(remove)),
                )
            )
        assign_roles(connection, user_id, add)


def assign_roles(connection: sa.engine.Connection, user_id: int, roles) -> None:
    """Assign ``roles`` to ``user_id`` (inside the caller's transaction), one statement.

    One ``INSERT`` of several rows, not one per row: one round trip however many.
    Raises ``IntegrityError`` when one is assigned already or no longer exists.
    """
    if roles:
        connection.execute(
            user_role_assignments.insert().values(
                [{"user_id": user_id, "role_id": role_id} for role_id in sorted(roles)]
            )
        )
