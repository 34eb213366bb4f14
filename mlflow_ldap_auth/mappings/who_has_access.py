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

from collections.abc import Iterable

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE, Mapping
from mlflow_ldap_auth.auth.access_report import (
    AccessEntry,
    Route,
    Routes,
    changes,
    entries,
    entry_for,
)
from mlflow_ldap_auth.errors import InvalidRequest, NotFound
from mlflow_ldap_auth.mappings.access_answers import AccessAnswer, GroupSummary, Preview, Resource
from mlflow_ldap_auth.mappings.access_routes import WORKSPACE_TYPE, AccessRoutes, _applies, _Walks
from mlflow_ldap_auth.mlflow_compat import resource_types, rules

__all__ = ["AccessAnswer", "GroupSummary", "Preview", "Resource", "WhoHasAccess"]


class WhoHasAccess(AccessRoutes):
    """Who has access to one resource, what one person's mappings give, and the previews
    of a change of mappings; the routes they fold are gathered by ``AccessRoutes``."""

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
