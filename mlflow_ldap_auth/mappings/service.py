"""Group mappings: create, list and delete them; resolve groups in the directory.

A grant mapping is stored as an MLflow role permission on the group's managed role
(``ldap-group:<uuid>`` in the mapping's workspace), so MLflow's validators, search
filtering, ``default_permission`` floor and ``DENY`` apply unchanged; the mapping id is
``grant-<role permission id>``. An admin mapping is a flag on the group's row in
``ldap_auth_groups`` (id ``admin-<group row id>``). Roles and grants an admin made by
hand are never touched: only roles named ``ldap-group:*`` are managed.

Fields are checked by MLflow's own rules (``mappings.validation``) and the group by the
directory (``find_group``) before anything is written; reading the mappings back is
``MappingListing``'s (``mappings.listing``).
"""

from __future__ import annotations

import builtins

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.access import (
    ADMIN_RESOURCE_TYPE,
    Mapping,
    grant_mapping_id,
    managed_role_name,
    parse_mapping_id,
)
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.errors import AlreadyExists, InvalidRequest, NotFound
from mlflow_ldap_auth.ldap.directory import DirectoryGroup
from mlflow_ldap_auth.mappings.listing import MappingListing
from mlflow_ldap_auth.mappings.store import MappedGroup
from mlflow_ldap_auth.mappings.validation import ALL_WORKSPACES, validate_fields
from mlflow_ldap_auth.mlflow_compat import rules
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

__all__ = ["ALL_WORKSPACES", "DRAFT_ID", "MappingService", "validate_fields"]

#: The id of a mapping checked but not saved (``MappingService.draft``).
DRAFT_ID = "new"


class MappingService(MappingListing):
    """Group mappings created and deleted, each checked before anything is written."""

    # -- changing --------------------------------------------------------
    def find_group(self, group_dn: str, group_uuid: str | None = None) -> DirectoryGroup:
        """The directory group a mapping names, by DN and (optionally) stable id.

        With both: they must name the same entry (or the DN names nothing, e.g. a file
        exported before the group was renamed: the id finds it). The entry must be a
        group under ``group_search_base``. Refusals are ``InvalidRequest`` / ``NotFound`` (400/404).
        """
        at_dn = self.directory.read_group(group_dn)
        found = at_dn
        if group_uuid:
            by_uuid = self.directory.find_group_by_uuid(group_uuid)
            if by_uuid is None:
                raise NotFound(f"no group with id {group_uuid!r} in the directory")
            if at_dn is not None and at_dn.uuid != by_uuid.uuid:
                raise InvalidRequest(
                    f"'group' {group_dn!r} and 'group_uuid' {group_uuid!r} name different "
                    f"directory entries ({at_dn.dn!r} and {by_uuid.dn!r})"
                )
            found = by_uuid
        if found is None:
            raise NotFound(f"no group {group_dn!r} in the directory")
        if not found.is_group:
            raise InvalidRequest(
                f"{found.dn!r} is not a group (a groupOfNames, groupOfUniqueNames, posixGroup "
                "or AD group under group_search_base)"
            )
        if not found.uuid:
            raise InvalidRequest(f"the directory entry {found.dn!r} has no entryUUID / objectGUID")
        return found

    def draft(
        self,
        group: object,
        resource_type: object,
        permission: object,
        resource_pattern: object = "*",
        workspace: object = DEFAULT_WORKSPACE,
        group_uuid: str | None = None,
        existing: builtins.list[Mapping] | None = None,
    ) -> Mapping:
        """The mapping ``create`` would write, checked as ``create`` checks it, unsaved.

        For previews: the fields pass MLflow's rules, the group is a group of the
        directory, the workspace exists and no mapping of the group says the same
        already; the id is ``DRAFT_ID``. Nothing is written.
        """
        group, resource_type, pattern, permission, workspace = validate_fields(
            group, resource_type, resource_pattern, permission, workspace
        )
        found = self.find_group(group, group_uuid)
        assert found.uuid is not None  # find_group refuses a group without one
        if resource_type != ADMIN_RESOURCE_TYPE:
            self._check_workspace_exists(workspace)
        draft = Mapping(
            id=DRAFT_ID,
            group=found.dn,
            group_uuid=found.uuid.lower(),
            group_name=found.name,
            resource_type=resource_type,
            resource_pattern=pattern,
            permission=permission,
            workspace=workspace,
        )
        for mapping in self.list() if existing is None else existing:
            if mapping.slot == draft.slot:
                what = (
                    "an admin mapping"
                    if resource_type == ADMIN_RESOURCE_TYPE
                    else (f"a mapping for {resource_type} {pattern!r} in workspace {workspace!r}")
                )
                raise AlreadyExists(f"group {found.dn!r} already has {what}; delete it first")
        return draft

    def create(
        self,
        group: object,
        resource_type: object,
        permission: object,
        resource_pattern: object = "*",
        workspace: object = DEFAULT_WORKSPACE,
        actor: str | None = None,
        group_uuid: str | None = None,
    ) -> Mapping:
        # A duplicate is refused by MLflow's own constraint in ``save``: no listing here.
        draft = self.draft(
            group, resource_type, permission, resource_pattern, workspace, group_uuid, existing=[]
        )
        return self.save(draft, actor)

    def save(self, draft: Mapping, actor: str | None = None) -> Mapping:
        """Write a mapping ``draft`` checked (the directory is not asked again)."""
        resource_type, pattern = draft.resource_type, draft.resource_pattern
        permission, workspace = draft.permission, draft.workspace
        row = self.groups.upsert(draft.group_uuid, draft.group, draft.group_name)
        if resource_type == ADMIN_RESOURCE_TYPE:
            self.groups.set_admin(row.uuid, True)
            admin_group = self.groups.by_uuid(row.uuid)
            assert admin_group is not None  # upserted just above
            mapping = self._admin_mapping(admin_group)
        else:
            role = self._ensure_role(row, workspace)
            try:
                grant = self.store.add_role_permission(role.id, resource_type, pattern, permission)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                raise AlreadyExists(
                    f"group {row.dn!r} already has a mapping for {resource_type} "
                    f"{pattern!r} in workspace {workspace!r}; delete it first"
                ) from None
            mapping = Mapping(
                id=grant_mapping_id(grant.id),
                group=row.dn,
                group_uuid=row.uuid,
                group_name=row.name,
                resource_type=resource_type,
                resource_pattern=pattern,
                permission=permission,
                workspace=workspace,
            )
        audit(
            reasons.MAPPING_CREATED,
            user=actor,
            source=None,
            result="success",
            reason=reasons.API,
            before=None,
            after=mapping.to_json(),
        )
        return mapping

    @staticmethod
    def _check_workspace_exists(workspace: str) -> None:
        if not rules.workspaces_enabled():
            return  # validate_fields allowed only the default workspace
        try:
            rules.get_workspace(workspace)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise InvalidRequest(f"no workspace {workspace!r} on this server") from None
            raise

    def _ensure_role(self, group: MappedGroup, workspace: str):
        name = managed_role_name(group.uuid)
        try:
            return self.store.get_role_by_name(workspace, name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        description = f"Managed by mlflow-ldap-auth: members of {group.dn}"
        try:
            return self.store.create_role(name, workspace, description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.store.get_role_by_name(workspace, name)

    def delete(self, mapping_id: str, actor: str | None = None) -> Mapping:
        # Any id that names no mapping, well-formed or not, is MLflow's "does not exist".
        parsed = parse_mapping_id(mapping_id)
        mapping = next((m for m in self.list() if m.id == mapping_id), None) if parsed else None
        if mapping is None:
            raise NotFound(f"no mapping {mapping_id!r}")
        assert parsed is not None  # a mapping is found only for a well-formed id
        kind, number = parsed
        if kind == "admin":
            self.groups.set_admin(mapping.group_uuid, False)
        else:
            grant = self.store.get_role_permission(number)
            self.store.remove_role_permission(number)
            if not self.store.list_role_permissions(grant.role_id):
                self.store.delete_role(grant.role_id)  # also ends its assignments
        audit(
            reasons.MAPPING_DELETED,
            user=actor,
            source=None,
            result="success",
            reason=reasons.API,
            before=mapping.to_json(),
            after=None,
        )
        return mapping
