"""Who has access to one resource, and who gains or loses what when mappings change.

Gathers every route to a resource (docs/admin-page.md#who-has-access-and-why) and hands
them to the pure rules of ``auth.access_report``:

* group mappings on the resource (its id, or ``*``) in its workspace, and workspace
  admin mappings there: every member of the mapped group, direct and nested, read from
  the directory (``Directory.group_members``: the first 200 of each group are listed,
  each group's count is reported), whether or not they have logged in yet. This is the
  answer the plugin enforces at each login and revalidation; a role assignment MLflow
  still holds for someone who has left the group ends at their next check;
* per-user grants and roles made in MLflow (not the roles this plugin manages), for
  the users they are assigned to;
* admins: MLflow users with the admin flag, and members of ``admin_groups`` and of
  groups with an admin mapping;
* with ``allowed_groups`` set, a listed person the access decision would refuse
  (not in any of them, or gone from the directory) is shown, marked as unable to log in.

The test-user page asks the other way round (``granted_to``: what one person's mappings
give them) and gets its answer from the same fold, so the two pages and MLflow's own
check cannot disagree.

Every directory read is bounded (one member walk per relevant group); an unreachable
directory is ``DirectoryUnavailable`` (503), as for a login.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE, Mapping, group_uuid_of_role
from mlflow_ldap_auth.auth.access_report import (
    AccessEntry,
    Change,
    Route,
    Routes,
    changes,
    entries,
    entry_for,
)
from mlflow_ldap_auth.errors import InvalidRequest, NotFound
from mlflow_ldap_auth.ldap.group_members import MemberList
from mlflow_ldap_auth.mlflow_compat import resource_types, rules

WORKSPACE_TYPE = "workspace"


@dataclass(frozen=True)
class Resource:
    type: str
    id: str
    name: str | None
    workspace: str
    exists: bool = True

    def to_json(self) -> dict:
        return {"type": self.type, "id": self.id, "name": self.name, "workspace": self.workspace}


@dataclass(frozen=True)
class GroupSummary:
    """One mapped group on the answer: how many people it has, how many are listed."""

    group: str
    mapping_id: str | None
    permission: str
    kind: str
    count: int
    listed: int
    complete: bool
    exists: bool

    def to_json(self) -> dict:
        return {
            "group": self.group,
            "mapping_id": self.mapping_id,
            "permission": self.permission,
            "kind": self.kind,
            "members": self.count,
            "listed": self.listed,
            "complete": self.complete,
        }


@dataclass(frozen=True)
class AccessAnswer:
    resource: Resource
    entries: tuple[AccessEntry, ...]
    groups: tuple[GroupSummary, ...]
    default_permission: str
    #: What someone without a route gets here (MLflow's answer where no grant speaks).
    everyone_else: str

    def to_json(self) -> dict:
        return {
            "resource": self.resource.to_json(),
            "entries": [entry.to_json() for entry in self.entries],
            "groups": [group.to_json() for group in self.groups],
            "default_permission": self.default_permission,
            "everyone_else": self.everyone_else,
        }


@dataclass(frozen=True)
class Preview:
    """What a change of mappings does to one resource key: per person, before -> after."""

    resource_type: str
    resource_pattern: str
    workspace: str
    changes: tuple[Change, ...]
    #: People of the changed groups (all of them, not only those listed).
    member_count: int
    #: What a person without a route gets (None for the admin flag).
    everyone_else: str | None

    def to_json(self) -> dict:
        return {
            "resource_type": self.resource_type,
            "resource_pattern": self.resource_pattern,
            "workspace": self.workspace,
            "member_count": self.member_count,
            "everyone_else": self.everyone_else,
            "changes": [
                {"user": c.user, "before": c.before, "after": c.after, "gain": c.gain}
                for c in self.changes
            ],
        }


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


class WhoHasAccess:
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

    # -- who has access ---------------------------------------------------
    def resource(
        self, resource_type: object, resource: object, workspace: str | None = None
    ) -> Resource:
        """The resource an admin names (by id or by name where its type has names: see
        ``ResourceNames.resolve``), or a 400/404. Any type MLflow's engine accepts on
        the running release can be asked about (``resource_types.available``).

        A name is looked for in ``workspace``, else in the one the request names
        (MLflow's header), else in the default workspace.
        """
        if not isinstance(resource_type, str) or not resource_type.strip():
            raise InvalidRequest("'resource_type' is required")
        if not isinstance(resource, str) or not resource.strip():
            raise InvalidRequest("'resource' is required")
        resource_type, resource = resource_type.strip(), resource.strip()
        row = resource_types.available().get(resource_type)
        if row is None or resource_type in (WORKSPACE_TYPE, ADMIN_RESOURCE_TYPE):
            raise InvalidRequest(
                f"'resource_type' must be one of MLflow's resource types other than "
                f"workspace, got {resource_type!r}"
            )
        if resource != "*" and not row.per_resource:
            raise InvalidRequest(f"{resource_type} grants take only '*'")
        lookup = (workspace or "").strip() or rules.request_workspace()
        # "02" is experiment 2 to MLflow (and to the grants, stored as "2").
        resource = rules.canonical_pattern_spelling(resource, resource_type) or resource
        resource_id = self.names.resolve(resource_type, resource, lookup)
        workspace = rules.resource_workspace(resource_type, resource_id, lookup)
        if workspace is None:
            raise NotFound(f"no {row.singular} {resource!r} on this server")
        label = self.names.label(resource_type, resource_id, workspace)
        return Resource(
            resource_type, resource_id, label.name, workspace, label.exists is not False
        )

    def answer(
        self, resource_type: object, resource: object, workspace: str | None = None
    ) -> AccessAnswer:
        found = self.resource(resource_type, resource, workspace)
        key = rules.resource_key(found.type, found.id)
        walks = _Walks(self.directory)
        routes, groups = self._routes(found.type, key, found.workspace, self.mappings.list(), walks)
        absent = rules.absent_permission(found.workspace)
        found_entries = entries(routes, found.type, key, self.default_permission, absent)
        return AccessAnswer(
            found, tuple(found_entries), tuple(groups), self.default_permission, absent
        )

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

    # -- what one person's mappings give -------------------------------------
    def granted_to(
        self, username: str, applying: Iterable[Mapping], is_admin: bool = False
    ) -> list[dict]:
        """Per (workspace, resource type, pattern) the mappings of ``applying`` name: the
        permission MLflow gives ``username`` there, the mappings that speak there, and
        what decided (``mappings``, ``default_permission`` lifting a lower grant, or
        ``admin``).

        The fold is who has access's (``entry_for``): a workspace admin mapping gives
        MANAGE, DENY wins, the highest grant wins, ``default_permission`` is the floor
        of a positive grant, an admin gets MANAGE. Per-user grants and roles made in
        MLflow are not mappings and not counted here (who has access lists them).
        """
        grants = [m for m in applying if m.resource_type != ADMIN_RESOURCE_TYPE]
        admin = [Route("admin", "MANAGE")] if is_admin else []
        answer = []
        for workspace, resource_type, pattern in sorted(
            {(m.workspace, m.resource_type, m.resource_pattern) for m in grants}
        ):
            speaking = [
                m for m in grants if m.workspace == workspace and _speaks(m, resource_type, pattern)
            ]
            routes = admin + [
                Route(
                    "group_mapping",
                    m.permission,
                    resource_type=m.resource_type,
                    resource_pattern=m.resource_pattern,
                    group=m.group,
                    mapping_id=m.id,
                )
                for m in speaking
            ]
            entry = entry_for(
                username,
                routes,
                resource_type,
                pattern,
                self.default_permission,
                rules.absent_permission(workspace),
            )
            answer.append(
                {
                    "workspace": workspace,
                    "resource_type": resource_type,
                    "resource_pattern": pattern,
                    "permission": entry.permission,
                    "from_mappings": sorted(m.id for m in speaking),
                    "decided_by": _decided_by(entry),
                }
            )
        return answer

    # -- previews ---------------------------------------------------------
    def preview(
        self, before: list[Mapping], after: list[Mapping], changed: Iterable[Mapping]
    ) -> list[Preview]:
        """Per resource key the changed mappings touch: who gains or loses what."""
        previews = []
        walks = _Walks(self.directory)
        seen = set()
        changed = list(changed)
        for mapping in changed:
            key = _preview_key(mapping)
            if key in seen:
                continue
            seen.add(key)
            changed_groups = [walks.current_dn(m) for m in changed if _preview_key(m) == key]
            if key[0] == ADMIN_RESOURCE_TYPE:
                absent = None
                old = self._admins(before, walks)
                new = self._admins(after, walks)
            else:
                resource_type, pattern, workspace = key
                absent = rules.absent_permission(workspace)
                default = self.default_permission
                old_routes, _ = self._routes(resource_type, pattern, workspace, before, walks)
                new_routes, _ = self._routes(resource_type, pattern, workspace, after, walks)
                old = entries(old_routes, resource_type, pattern, default, absent)
                new = entries(new_routes, resource_type, pattern, default, absent)
            lists = [walks.members(dn) for dn in dict.fromkeys(changed_groups)]
            # People in several of the changed groups count once.
            count = len(frozenset().union(*(m.person_keys for m in lists))) + len(
                {uid.casefold() for m in lists for uid in m.member_uids}
            )
            previews.append(
                Preview(
                    key[0],
                    key[1],
                    key[2],
                    tuple(changes(old, new, absent)),
                    count,
                    absent,
                )
            )
        return previews

    def _admins(self, mappings: list[Mapping], walks: _Walks) -> list[AccessEntry]:
        routes = Routes()
        for mapping in mappings:
            if mapping.resource_type == ADMIN_RESOURCE_TYPE:
                dn = walks.current_dn(mapping)
                for member in walks.members(dn).members:
                    routes.add(member.username, Route("admin", "MANAGE", group=dn))
        for group_dn in self._admin_groups(walks):
            for member in walks.members(group_dn).members:
                routes.add(member.username, Route("admin", "MANAGE", group=group_dn))
        return [
            AccessEntry(routes.names[key], "MANAGE", tuple(person))
            for key, person in routes.routes.items()
        ]


def _speaks(mapping: Mapping, resource_type: str, key: str) -> bool:
    return _applies(
        mapping.resource_type, mapping.resource_pattern, mapping.permission, resource_type, key
    )


def _decided_by(entry: AccessEntry) -> str:
    """``admin``, ``default_permission`` (it lifted a lower grant) or ``mappings``."""
    kinds = {route.kind for route in entry.via}
    if "admin" in kinds:
        return "admin"
    return "default_permission" if "default" in kinds else "mappings"


def _preview_key(mapping: Mapping) -> tuple[str, str, str]:
    if mapping.resource_type == ADMIN_RESOURCE_TYPE:
        return (ADMIN_RESOURCE_TYPE, "*", "*")
    return (mapping.resource_type, mapping.resource_pattern, mapping.workspace)


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
