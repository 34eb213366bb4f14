"""Group -> permission logic as pure functions (no servers, no database).

Vocabulary:

* a *mapping* says: members of group G get permission P on resource type T, pattern R,
  in workspace W. Grant mappings are MLflow role permissions on the group's *managed
  role*, named ``ldap-group:<group uuid>`` (one per group and workspace). An admin
  mapping (``resource_type = "admin"``) makes G's members MLflow admins.
* precedence is MLflow's: an explicit ``DENY`` wins over everything; otherwise the
  highest grant wins by MLflow's own ``PERMISSION_PRIORITY`` (READ < USE < EDIT <
  MANAGE, read from MLflow through ``mlflow_compat.rules``); with no grant at all,
  ``default_permission`` applies; admins bypass all checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from mlflow_ldap_auth.ldap.dn import DnKey
from mlflow_ldap_auth.mlflow_compat.rules import permission_priority

MANAGED_ROLE_PREFIX = "ldap-group:"
ADMIN_RESOURCE_TYPE = "admin"
GRANT_ID_PREFIX = "grant-"
ADMIN_ID_PREFIX = "admin-"


def managed_role_name(group_uuid: str) -> str:
    return MANAGED_ROLE_PREFIX + group_uuid.lower()


def group_uuid_of_role(role_name: str) -> str | None:
    """The group uuid a managed role stands for; None for roles made by hand."""
    if role_name.startswith(MANAGED_ROLE_PREFIX):
        return role_name[len(MANAGED_ROLE_PREFIX) :]
    return None


@dataclass(frozen=True)
class Mapping:
    id: str
    group: str  # the group's current DN
    group_uuid: str
    group_name: str | None
    resource_type: str
    resource_pattern: str
    permission: str
    workspace: str

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def slot(self) -> tuple[str, str, str, str]:
        """What a group has at most one mapping for: the key without the permission."""
        return (self.group_uuid, self.resource_type, self.resource_pattern, self.workspace)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What makes two mappings the same, whatever their ids."""
        return (
            self.group_uuid,
            self.resource_type,
            self.resource_pattern,
            self.permission,
            self.workspace,
        )


def grant_mapping_id(role_permission_id: int) -> str:
    return f"{GRANT_ID_PREFIX}{role_permission_id}"


def admin_mapping_id(group_row_id: int) -> str:
    return f"{ADMIN_ID_PREFIX}{group_row_id}"


def parse_mapping_id(mapping_id: str) -> tuple[str, int] | None:
    """``grant-17`` -> ("grant", 17); ``admin-3`` -> ("admin", 3); None if malformed."""
    for kind, prefix in (("grant", GRANT_ID_PREFIX), ("admin", ADMIN_ID_PREFIX)):
        number = mapping_id[len(prefix) :]
        # ASCII digits only: str.isdigit() also accepts "²" or "①", which int() refuses.
        if mapping_id.startswith(prefix) and number.isascii() and number.isdigit():
            return kind, int(number)
    return None


def applicable(mappings: Iterable[Mapping], group_uuids: Iterable[str]) -> list[Mapping]:
    """The mappings whose group the user belongs to (directly or nested)."""
    member_of = {uuid.lower() for uuid in group_uuids}
    return [m for m in mappings if m.group_uuid in member_of]


@dataclass(frozen=True)
class GroupRef:
    """A group named in the configuration (``admin_groups``, ``allowed_groups``).

    Matched by the group's stable id once it has been resolved in the directory (a
    rename keeps working, a new group at the old DN does not inherit), by its
    structural DN key until then.
    """

    key: DnKey
    uuid: str | None = None


#: A user's groups as the directory reported them: (DN key, stable id or None).
UserGroups = Iterable[tuple[DnKey, str | None]]


def member_of_any(user_groups: UserGroups, refs: Iterable[GroupRef]) -> bool:
    """Whether one of the user's groups is one of ``refs`` (by stable id where both have one)."""
    user_groups = list(user_groups)
    for ref in refs:
        for key, uuid in user_groups:
            if (uuid == ref.uuid) if (ref.uuid and uuid) else (key == ref.key):
                return True
    return False


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    #: None: nothing in the configuration decides the admin flag (it is MLflow's).
    is_admin: bool | None


def decide(
    user_groups: UserGroups,
    admin_refs: Iterable[GroupRef],
    allowed_refs: Iterable[GroupRef],
    admin_mapped_uuids: Iterable[str],
) -> AccessDecision:
    """The one access decision, used by login, the lookup API, the admin page and the CLI.

    * allowed: no ``allowed_groups`` configured, or a member of one of them;
    * admin: a member of an ``admin_groups`` group or of a group with an admin mapping;
      None when neither is configured.
    """
    user_groups = list(user_groups)
    admin_refs, allowed_refs = list(admin_refs), list(allowed_refs)
    admin_mapped = {uuid.lower() for uuid in admin_mapped_uuids}
    allowed = not allowed_refs or member_of_any(user_groups, allowed_refs)
    if not admin_refs and not admin_mapped:
        return AccessDecision(allowed=allowed, is_admin=None)
    is_admin = member_of_any(user_groups, admin_refs) or any(
        uuid and uuid.lower() in admin_mapped for _, uuid in user_groups
    )
    return AccessDecision(allowed=allowed, is_admin=is_admin)


def fold(permissions: Iterable[str]) -> str | None:
    """MLflow's precedence over several grants on one resource: DENY wins, else highest."""
    permissions = list(permissions)
    if not permissions:
        return None
    if "DENY" in permissions:
        return "DENY"
    priority = permission_priority()
    return max(permissions, key=lambda p: priority.get(p, 0))


def resulting_permissions(applying: Iterable[Mapping]) -> list[dict]:
    """Per (workspace, resource type, pattern): the permission that results and why."""
    by_resource: dict[tuple[str, str, str], list[Mapping]] = {}
    for mapping in applying:
        if mapping.resource_type == ADMIN_RESOURCE_TYPE:
            continue
        key = (mapping.workspace, mapping.resource_type, mapping.resource_pattern)
        by_resource.setdefault(key, []).append(mapping)
    result = []
    for (workspace, resource_type, pattern), group in sorted(by_resource.items()):
        result.append(
            {
                "workspace": workspace,
                "resource_type": resource_type,
                "resource_pattern": pattern,
                "permission": fold(m.permission for m in group),
                "from_mappings": sorted(m.id for m in group),
            }
        )
    return result


def role_changes(
    assigned_role_ids: set[int], wanted_role_ids: set[int]
) -> tuple[set[int], set[int]]:
    """(roles to assign, roles to unassign) to go from what is to what should be."""
    return wanted_role_ids - assigned_role_ids, assigned_role_ids - wanted_role_ids
