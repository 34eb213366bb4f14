"""Who has access to one resource, and what a mapping change would change: pure rules.

A *route* is one reason a person has a permission on a resource: a group mapping (the
person is a member of the mapped group, directly or nested), a per-user grant, a role
an admin made in MLflow, being an admin, or ``default_permission``. ``entries`` folds
each person's routes into the permission MLflow gives them, by MLflow's own rule
(``rules.resolve_grants``: workspace admin -> MANAGE, DENY wins, highest grant,
``default_permission`` as the floor of a positive grant); admins get MANAGE whatever
else applies, as MLflow lets them past every check. ``changes`` compares two answers
person by person (the previews, docs/admin-page.md#previews).

Naming: ``user_key`` is a username casefolded (how two spellings of one person meet).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mlflow_ldap_auth.mlflow_compat import rules

ROUTE_KINDS = ("admin", "group_mapping", "user_grant", "role", "default")


@dataclass(frozen=True)
class Route:
    kind: str
    permission: str
    #: The grant's own type and pattern (a workspace admin grant has type ``workspace``).
    resource_type: str | None = None
    resource_pattern: str | None = None
    group: str | None = None
    mapping_id: str | None = None
    role: str | None = None
    #: Nested groups between the mapped group and the person, outermost first.
    through: tuple[str, ...] = ()

    @property
    def is_grant(self) -> bool:
        return self.kind in ("group_mapping", "user_grant", "role")

    def to_json(self) -> dict:
        answer: dict[str, object] = {"kind": self.kind}
        for name in ("group", "mapping_id", "role"):
            if getattr(self, name) is not None:
                answer[name] = getattr(self, name)
        if self.is_grant and self.resource_pattern is not None:
            # A workspace admin grant and "all experiments" are both pattern "*".
            answer["resource_type"] = self.resource_type
            answer["resource_pattern"] = self.resource_pattern
        if self.through:
            answer["through"] = list(self.through)
        answer["permission"] = self.permission
        return answer


@dataclass(frozen=True)
class AccessEntry:
    user: str
    permission: str
    via: tuple[Route, ...]
    #: False when ``allowed_groups`` keeps the person from logging in at all.
    can_log_in: bool = True

    def to_json(self) -> dict:
        answer: dict[str, object] = {
            "user": self.user,
            "permission": self.permission,
            "via": [route.to_json() for route in self.via],
        }
        if not self.can_log_in:
            answer["can_log_in"] = False
        return answer

    def deciding(self, route: Route) -> bool:
        """Whether ``route`` is one of those that decide the permission (for the page)."""
        if self.permission == "MANAGE" and any(r.kind == "admin" for r in self.via):
            return route.kind == "admin"
        if route.kind == "default":
            return True
        return route.permission == self.permission


@dataclass
class Routes:
    """Routes gathered per person; ``add`` keeps the first spelling of a username."""

    names: dict[str, str] = field(default_factory=dict)
    routes: dict[str, list[Route]] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)

    def add(self, username: str, route: Route) -> None:
        key = username.casefold()
        self.names.setdefault(key, username)
        known = self.routes.setdefault(key, [])
        if route not in known:
            known.append(route)

    def refuse_login(self, username: str) -> None:
        self.refused.add(username.casefold())


def _order(entry: AccessEntry) -> tuple:
    priority = rules.permission_priority()
    rank = -1000 if entry.permission == "DENY" else -priority.get(entry.permission, 0)
    return (rank, entry.user.casefold())


def entries(
    routes: Routes,
    resource_type: str,
    resource_key: str,
    default_permission: str,
    absent_permission: str | None = None,
) -> list[AccessEntry]:
    """Each person's resulting permission and every route, strongest first."""
    answer = []
    for key, person_routes in routes.routes.items():
        answer.append(
            entry_for(
                routes.names[key],
                person_routes,
                resource_type,
                resource_key,
                default_permission,
                absent_permission,
                can_log_in=key not in routes.refused,
            )
        )
    return sorted(answer, key=_order)


def entry_for(
    username: str,
    person_routes: Iterable[Route],
    resource_type: str,
    resource_key: str,
    default_permission: str,
    absent_permission: str | None = None,
    can_log_in: bool = True,
) -> AccessEntry:
    """One person's permission; ``absent_permission`` (default: ``default_permission``)
    is what MLflow gives where no grant speaks."""
    person_routes = list(person_routes)
    if any(route.kind == "admin" for route in person_routes):
        return AccessEntry(username, "MANAGE", tuple(person_routes), can_log_in)
    grants = [
        (route.resource_type or resource_type, route.resource_pattern or "*", route.permission)
        for route in person_routes
        if route.is_grant
    ]
    permission, by_default = rules.resolve_grants(
        grants, resource_type, resource_key, default_permission, absent_permission
    )
    if by_default:
        person_routes.append(Route("default", permission))
    return AccessEntry(username, permission, tuple(person_routes), can_log_in)


@dataclass(frozen=True)
class Change:
    user: str
    before: str | None
    after: str | None
    #: Whether the person ends up with more than before (a loss otherwise).
    gain: bool = True


def _strength(permission: str | None) -> int:
    """Rank for gain/loss: DENY lowest, then no permission at all, then MLflow's order."""
    if permission == "DENY":
        return -1000
    if permission is None:
        return -1
    return rules.permission_priority().get(permission, 0)


def changes(
    before: Iterable[AccessEntry],
    after: Iterable[AccessEntry],
    absent_permission: str | None = None,
) -> list[Change]:
    """Who ends up with another permission between two answers.

    A person missing from an answer has no route: they get ``absent_permission`` (what
    MLflow gives where no grant speaks: ``default_permission``, or NO_PERMISSIONS in a
    workspace they have no role in; None for the admin flag). People whose effective
    permission is the same before and after are not changes, whatever their routes.
    """
    old = {entry.user.casefold(): entry for entry in before}
    new = {entry.user.casefold(): entry for entry in after}
    result = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        was_permission = was.permission if was else None
        now_permission = now.permission if now else None
        if (was_permission or absent_permission) == (now_permission or absent_permission):
            continue
        gain = _strength(now_permission or absent_permission) > _strength(
            was_permission or absent_permission
        )
        entry = now or was
        assert entry is not None  # the key came from one of the two answers
        result.append(Change(entry.user, was_permission, now_permission, gain))
    return result
