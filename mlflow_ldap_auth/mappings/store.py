"""Mapped directory groups, in the database at ``[mlflow] database_uri``.

One row per directory group that any mapping refers to: its stable identifier
(``entryUUID`` / ``objectGUID``), its current DN and display name (refreshed when the
group is renamed or moved), and whether its members are MLflow admins (an admin
mapping). The grants themselves are *not* here: they are MLflow role permissions on
the group's managed role (see ``mappings``), so MLflow's engine enforces them and there
is no second copy to drift.

The schema is in ``tables`` (versioned with alembic, upgraded at server start). What
every fresh login reads (``relevant_to``, ``managed_roles_of``, ``assigned_roles``) is
read in autocommit (``db.autocommit``): one round trip per statement on PostgreSQL.
"""

from __future__ import annotations

import builtins
import time

import sqlalchemy as sa

from mlflow_ldap_auth.auth.access import (
    MANAGED_ROLE_PREFIX,
    Mapping,
    grant_mapping_id,
    group_uuid_of_role,
    managed_role_name,
)
from mlflow_ldap_auth.auth.group_table import MappedGroup
from mlflow_ldap_auth.db import autocommit, tables
from mlflow_ldap_auth.db.tables import groups as groups_table
from mlflow_ldap_auth.mlflow_compat import mlflow_tables

#: A group's row as ``MappedGroup`` takes it, field by field.
_ROW_COLUMNS = ("id", "group_uuid", "group_dn", "display_name", "is_admin")


class GroupStore:
    """The group table (``auth.group_table.GroupTable``) and what the mappings write."""

    def __init__(self, database_uri: str, engine: sa.engine.Engine | None = None) -> None:
        self.engine = engine or tables.create_engine(database_uri)
        self._alone = autocommit.of(self.engine)

    def migrate(self) -> None:
        tables.migrate(self.engine)

    @staticmethod
    def _row(row) -> MappedGroup:
        return MappedGroup(row.id, row.group_uuid, row.group_dn, row.display_name, row.is_admin)

    def list(self) -> list[MappedGroup]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(groups_table).order_by(groups_table.c.group_dn))
            return [self._row(row) for row in rows]

    def relevant_to(self, group_uuids) -> builtins.list[MappedGroup]:
        """The rows a login of a member of ``group_uuids`` needs: those groups' rows and
        every admin mapping's (the access decision asks whether any exists).

        What ``list`` would give for the decision and the move check, without reading
        every mapped group at every login. One statement for up to 500 groups (the
        admin rows in the first), the columns a ``MappedGroup`` holds: a user in 500
        mapped groups read them in two statements and ~40 % more CPU.
        """
        wanted = sorted({uuid.lower() for uuid in group_uuids if uuid})
        found = self._alone.read(lambda engine: self._relevant(engine, wanted))
        return sorted(found.values(), key=lambda group: group.dn)

    @staticmethod
    def _relevant(engine: sa.engine.Engine, wanted: builtins.list[str]) -> dict[int, MappedGroup]:
        """The admin mappings' rows and ``wanted``'s, one statement per 500 of them."""
        columns = [groups_table.c[name] for name in _ROW_COLUMNS]
        found: dict[int, MappedGroup] = {}
        with engine.connect() as connection:
            for start in range(0, max(len(wanted), 1), 500):  # bound the parameters
                chunk = groups_table.c.group_uuid.in_(wanted[start : start + 500])
                where = sa.or_(groups_table.c.is_admin, chunk) if start == 0 else chunk
                for row in connection.execute(sa.select(*columns).where(where)).tuples():
                    found[row[0]] = MappedGroup(*row)
        return found

    def get(self, group_id: int) -> MappedGroup | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(groups_table).where(groups_table.c.id == group_id)
            ).first()
            return self._row(row) if row else None

    def by_uuid(self, group_uuid: str) -> MappedGroup | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(groups_table).where(groups_table.c.group_uuid == group_uuid.lower())
            ).first()
            return self._row(row) if row else None

    def upsert(self, group_uuid: str, dn: str, name: str | None) -> MappedGroup:
        """The row for ``group_uuid``, created or with its DN/name brought up to date."""
        group_uuid = group_uuid.lower()
        existing = self.by_uuid(group_uuid)
        now = int(time.time())
        with self.engine.begin() as connection:
            if existing is None:
                try:
                    connection.execute(
                        groups_table.insert().values(
                            group_uuid=group_uuid,
                            group_dn=dn,
                            display_name=name,
                            is_admin=False,
                            updated_at=now,
                        )
                    )
                except sa.exc.IntegrityError:
                    pass  # a concurrent insert won; read it back below
            elif existing.dn != dn or (name and existing.name != name):
                connection.execute(
                    groups_table.update()
                    .where(groups_table.c.group_uuid == group_uuid)
                    .values(group_dn=dn, display_name=name or existing.name, updated_at=now)
                )
        row = self.by_uuid(group_uuid)
        assert row is not None  # written above, or by the concurrent insert that won
        return row

    def mappings_on_names(
        self, workspace: str, resource_types: tuple[str, ...], names: set[str]
    ) -> builtins.list[Mapping]:
        """The grant mappings in ``workspace`` on exactly ``resource_types`` x ``names``.

        One read of the grants (``mlflow_tables.grants_on_names``); the groups' DNs are
        read only when there are some. A managed role whose group row is gone still
        shows, under its group id.
        """
        grants = mlflow_tables.grants_on_names(
            self.engine, MANAGED_ROLE_PREFIX, workspace, resource_types, names
        )
        if not grants:
            return []
        uuids = {group_uuid_of_role(grant.role_name) for grant in grants}
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(groups_table).where(groups_table.c.group_uuid.in_(sorted(uuids)))
            )
            groups = {row.group_uuid: self._row(row) for row in rows}
        mappings = []
        for grant in grants:
            uuid = group_uuid_of_role(grant.role_name)
            assert uuid is not None  # grants_on_names reads managed roles only
            group = groups.get(uuid)
            mappings.append(
                Mapping(
                    id=grant_mapping_id(grant.id),
                    group=group.dn if group else f"group id {uuid}",
                    group_uuid=uuid,
                    group_name=group.name if group else None,
                    resource_type=grant.resource_type,
                    resource_pattern=grant.resource_pattern,
                    permission=grant.permission,
                    workspace=workspace,
                )
            )
        return mappings

    def managed_roles_of(self, group_uuids) -> builtins.list[tuple[int, str]]:
        """(id, name) of the managed roles of ``group_uuids`` (``managed_role_name``)."""
        names = sorted({managed_role_name(uuid) for uuid in group_uuids if uuid})
        return self._alone.read(lambda engine: mlflow_tables.roles_with_names(engine, names))

    def assigned_roles(self, user_id: int, prefix: str) -> set[int]:
        """Ids of the roles named ``prefix*`` assigned to ``user_id``."""
        return self._alone.read(
            lambda engine: mlflow_tables.assigned_role_ids(engine, user_id, prefix)
        )

    def change_assignments(self, user_id: int, add: set[int], remove: set[int]) -> None:
        """Assign ``add`` to and unassign ``remove`` from ``user_id`` in one transaction.

        ``IntegrityError`` (nothing written) when one of ``add`` is assigned already.
        """
        mlflow_tables.change_role_assignments(self.engine, user_id, add, remove)

    def set_admin(self, group_uuid: str, is_admin: bool) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                groups_table.update()
                .where(groups_table.c.group_uuid == group_uuid.lower())
                .values(is_admin=is_admin, updated_at=int(time.time()))
            )

    def delete(self, group_uuid: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                groups_table.delete().where(groups_table.c.group_uuid == group_uuid.lower())
            )
