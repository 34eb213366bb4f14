"""What who-has-access and the previews answer, as the REST API and the admin page
receive it: the resource asked about, each mapped group's counts, one preview per
resource key. Plain values with their JSON form, apart from the code that gathers them
(``access_routes``, ``who_has_access``) so a change to the answer's shape is read here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow_ldap_auth.auth.access_report import AccessEntry, Change


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
