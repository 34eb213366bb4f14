"""The group mappings as they are: read from MLflow's roles and the group table.

A grant mapping is an MLflow role permission on the group's managed role
(``ldap-group:<uuid>``); an admin mapping is a flag on the group's row in
``ldap_auth_groups`` (see ``mappings.service``). ``MappingListing`` reads both back as
``Mapping`` values and keeps the group table's DNs current; what creates and deletes
them is ``MappingService``, which extends it. The cut is between reading and changing.
"""

from __future__ import annotations

from mlflow_ldap_auth.auth.access import (
    ADMIN_RESOURCE_TYPE,
    Mapping,
    admin_mapping_id,
    grant_mapping_id,
    group_uuid_of_role,
)
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.mappings.store import GroupStore, MappedGroup
from mlflow_ldap_auth.mappings.validation import ALL_WORKSPACES


class MappingListing:
    """The mappings read back, and the mapped groups' DNs kept current."""

    def __init__(self, store, groups: GroupStore, directory: Directory) -> None:
        self.store = store  # MLflow's auth store
        self.groups = groups
        self.directory = directory

    # -- reading ---------------------------------------------------------
    def list(self) -> list[Mapping]:
        groups = {group.uuid: group for group in self.groups.list()}
        mappings = []
        for role in self.store.list_roles(None):
            group = groups.get(group_uuid_of_role(role.name) or "")
            if group is None:
                continue
            for grant in role.permissions:
                mappings.append(
                    Mapping(
                        id=grant_mapping_id(grant.id),
                        group=group.dn,
                        group_uuid=group.uuid,
                        group_name=group.name,
                        resource_type=grant.resource_type,
                        resource_pattern=grant.resource_pattern,
                        permission=grant.permission,
                        workspace=role.workspace,
                    )
                )
        for group in groups.values():
            if group.is_admin:
                mappings.append(self._admin_mapping(group))
        return sorted(mappings, key=lambda m: (m.group.lower(), m.workspace, m.resource_type, m.id))

    @staticmethod
    def _admin_mapping(group: MappedGroup) -> Mapping:
        return Mapping(
            id=admin_mapping_id(group.id),
            group=group.dn,
            group_uuid=group.uuid,
            group_name=group.name,
            resource_type=ADMIN_RESOURCE_TYPE,
            resource_pattern="*",
            permission="MANAGE",
            workspace=ALL_WORKSPACES,
        )

    def refresh_group_dns(self) -> int:
        """Look every mapped group up by its stable id; store renamed/moved DNs."""
        changed = 0
        for group in self.groups.list():
            found = self.directory.find_group_by_uuid(group.uuid)
            if found is not None and (found.dn != group.dn or found.name != group.name):
                self.groups.upsert(group.uuid, found.dn, found.name)
                changed += 1
        return changed
