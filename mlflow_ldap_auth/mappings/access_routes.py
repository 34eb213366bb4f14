"""Every route to one resource key, gathered from the directory and MLflow's store.

The reads behind who has access and the previews (docs/admin-page.md#who-has-access-and-why):
``_Walks`` reads each group's members, each mapped group's current DN and MLflow's grants
once per answer; ``AccessRoutes`` turns group mappings, ``admin_groups``, MLflow's own
grants, roles and admin flags into ``Routes`` and marks who ``allowed_groups`` refuses.
The questions asked of these routes (``answer``, ``granted_to``, ``preview``) are in
``who_has_access``; the cut is between reading the routes and folding them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE, Mapping, group_uuid_of_role
from mlflow_ldap_auth.auth.access_report import Route, Routes
from mlflow_ldap_auth.ldap.group_members import MemberList
from mlflow_ldap_auth.mappings.access_answers import GroupSummary
from mlflow_ldap_auth.mlflow_compat import rules

WORKSPACE_TYPE = "workspace"


class _Walks:
    """One answer's reads: each group's members once, each mapped group's current DN (by
    its stable id: a renamed or moved group keeps its routes) once, and MLflow's grants
    on each resource once."""

    def __init__(self, directory) -> None:
        self.directory = directory
        self.lists: dict[str, MemberList] = {}
        self._dns: dict[str, str] = {}
        self._store: dict[tuple[str, str, str], tuple] = {}

    def store_routes(self, key: tuple[str, str, str], read):
        """MLflow's grants on one resource, read once (a preview asks before and after)."""
        if key not in self._store:
            self._store[key] = read()
        return self._store[key]

    def members(self, group_dn: str) -> MemberList:
        key = group_dn.casefold()
        if key not in self.lists:
            self.lists[key] = self.directory.group_members(group_dn)
        return self.lists[key]

    def current_dn(self, mapping: Mapping) -> str:
        return self.dn_of(mapping.group_uuid, mapping.group)

    def dn_of(self, group_uuid: str | None, known_dn: str) -> str:
        """Where the group with ``group_uuid`` is now (``known_dn`` if unknown or gone)."""
        if not group_uuid:
            return known_dn
        if group_uuid not in self._dns:
            found = self.directory.find_group_by_uuid(group_uuid)
            self._dns[group_uuid] = found.dn if found is not None else known_dn
        return self._dns[group_uuid]


class AccessRoutes:
    """The route gathering who has access and the previews share."""

    def __init__(
        self,
        store,
        mappings,
        directory,
        names,
        settings,
        default_permission: str,
        policy=None,
    ) -> None:
        self.store = store  # MLflow's auth store
        self.mappings = mappings  # MappingService
        self.directory = directory
        self.names = names  # ResourceNames
        self.admin_group_dns = tuple(settings.admin_group_dns)
        self.allowed_group_dns = tuple(settings.allowed_group_dns)
        self.default_permission = default_permission
        #: ``AccessPolicy``: who may log in (``allowed_groups``); None: not asked (CLI).
        self.policy = policy

    def _routes(
        self,
        resource_type: str,
        key: str,
        workspace: str,
        mappings: Iterable[Mapping],
        walks: _Walks,
    ) -> tuple[Routes, list[GroupSummary]]:
        routes = Routes()
        groups: list[GroupSummary] = []

        def add_group(group_dn: str, route: Route, summary_kind: str, mapping_id) -> None:
            found = walks.members(group_dn)
            for member in found.members:
                routes.add(member.username, dataclasses.replace(route, through=member.via))
            groups.append(
                GroupSummary(
                    group=group_dn,
                    mapping_id=mapping_id,
                    permission=route.permission,
                    kind=summary_kind,
                    count=found.count,
                    listed=len(found.members),
                    complete=found.complete,
                    exists=found.exists,
                )
            )

        for mapping in mappings:
            if mapping.resource_type == ADMIN_RESOURCE_TYPE:
                dn = walks.current_dn(mapping)
                route = Route("admin", "MANAGE", group=dn, mapping_id=mapping.id)
                add_group(dn, route, "admin", mapping.id)
                continue
            if mapping.workspace != workspace or not _applies(
                mapping.resource_type,
                mapping.resource_pattern,
                mapping.permission,
                resource_type,
                key,
            ):
                continue
            route = Route(
                "group_mapping",
                mapping.permission,
                resource_type=mapping.resource_type,
                resource_pattern=mapping.resource_pattern,
                group=walks.current_dn(mapping),
                mapping_id=mapping.id,
            )
            assert route.group is not None  # set just above
            add_group(route.group, route, "group_mapping", mapping.id)
        for group_dn in self._admin_groups(walks):
            add_group(group_dn, Route("admin", "MANAGE", group=group_dn), "admin_groups", None)
        self._mlflow_routes(routes, resource_type, key, workspace, walks)
        if self.allowed_group_dns and self.policy is not None:
            self._mark_refused(routes, walks)
        return routes, groups

    def _admin_groups(self, walks: _Walks) -> list[str]:
        """``admin_groups`` at their current DNs: by the stable id the access decision
        resolved each to (a renamed admin group still makes admins), else as written."""
        uuids = self.policy.configured.admin_group_uuids() if self.policy is not None else {}
        return [walks.dn_of(uuids.get(dn), dn) for dn in self.admin_group_dns]

    def _mark_refused(self, routes: Routes, walks: _Walks) -> None:
        """Mark the listed directory people ``allowed_groups`` keeps from logging in.

        Asked as a login asks (``AccessPolicy.decide`` on each person's groups), for the
        listed people only: one batched look-up for all of them (``lookup_many``), not a
        walk of every allowed group, which may be the whole company.
        """
        listed = {
            member.username.casefold(): member.username
            for found in walks.lists.values()
            for member in found.members
        }
        wanted = [listed[key] for key in routes.routes if key in listed]
        if not wanted:
            return
        mapped = self.policy.groups.list()
        for username, user in self.directory.lookup_many(wanted).items():
            if user is None or not self.policy.decide(user, mapped).allowed:
                routes.refuse_login(username)

    def _mlflow_routes(
        self, routes: Routes, resource_type: str, key: str, workspace: str, walks: _Walks
    ) -> None:
        """Per-user grants, hand-made roles and admin flags from MLflow's own store."""
        admins, grants = walks.store_routes(
            (resource_type, key, workspace),
            lambda: self._read_store_routes(resource_type, key, workspace),
        )
        directory_admins = {
            name for name, person in routes.routes.items() if any(r.kind == "admin" for r in person)
        }
        for username in admins:
            if username.casefold() not in directory_admins:
                routes.add(username, Route("admin", "MANAGE"))
        for username, route in grants:
            routes.add(username, route)

    def _read_store_routes(
        self, resource_type: str, key: str, workspace: str
    ) -> tuple[list[str], list[tuple[str, Route]]]:
        """(MLflow admins, (username, route) of each grant and role on the resource)."""
        users = {user.id: user for user in self.store.list_users()}
        admins = [user.username for user in users.values() if user.is_admin]
        grants: list[tuple[str, Route]] = []
        for role in self.store.list_roles([workspace]):
            if group_uuid_of_role(role.name) is not None:
                continue  # a group mapping: its members come from the directory
            matching = [
                grant
                for grant in role.permissions
                if _applies(
                    grant.resource_type,
                    grant.resource_pattern,
                    grant.permission,
                    resource_type,
                    key,
                )
            ]
            if not matching:
                continue
            synthetic = rules.is_user_grant_role(role.name)
            for assignment in self.store.list_role_users(role.id):
                user = users.get(assignment.user_id)
                if user is None:
                    continue
                for grant in matching:
                    route = Route(
                        "user_grant" if synthetic else "role",
                        grant.permission,
                        resource_type=grant.resource_type,
                        resource_pattern=grant.resource_pattern,
                        role=None if synthetic else role.name,
                    )
                    grants.append((user.username, route))
        return admins, grants


def _applies(
    grant_type: str, grant_pattern: str, permission: str, resource_type: str, key: str
) -> bool:
    """Whether a grant speaks about ``(resource_type, key)`` in MLflow's resolution.

    A workspace grant speaks about the workspace tier (who may create there: USE or
    MANAGE) and, as MANAGE (workspace admin), about every resource in it.
    """
    if grant_type == WORKSPACE_TYPE:
        if resource_type == WORKSPACE_TYPE:
            return grant_pattern == "*"
        return rules.is_workspace_admin_grant(grant_type, grant_pattern, permission)
    return grant_type == resource_type and rules.grant_applies(grant_pattern, resource_type, key)
