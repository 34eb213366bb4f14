"""At every fresh bind: bring a user's admin flag and managed roles in line with the directory.

``plan`` (before the user is provisioned) reads the mapped groups, decides the admin
flag and records renamed/moved groups; ``apply`` (after) assigns the managed roles of
the user's groups (direct and nested) and unassigns the others, writing only what
changed. Roles that are not ``ldap-group:*`` are never touched.

Staleness: a mapping or membership change reaches a logged-in user at their next fresh
bind, i.e. within ``cache_ttl_seconds`` (or at once after a cache flush on that worker),
plus up to ``permission_cache_ttl_seconds`` on workers other than the one that changed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.access import MANAGED_ROLE_PREFIX, group_uuid_of_role, role_changes
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.directory import DirectoryUser
from mlflow_ldap_auth.dn import normalize_dn
from mlflow_ldap_auth.group_store import GroupStore

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncPlan:
    #: None: leave MLflow's admin flag alone (no admin_groups, no admin mapping).
    is_admin: bool | None
    member_uuids: frozenset[str] = field(default_factory=frozenset)


class GroupSync:
    def __init__(self, settings: Settings, store, groups: GroupStore) -> None:
        self.settings = settings
        self.store = store
        self.groups = groups
        self._config_admin_dns = {normalize_dn(dn) for dn in settings.ldap.admin_group_dns}

    def plan(self, user: DirectoryUser) -> SyncPlan:
        mapped = self.groups.list()
        uuid_by_dn = user.uuid_by_group_dn
        member_uuids = frozenset(uuid_by_dn.values())
        current_dn = {group_uuid: dn for dn, group_uuid in uuid_by_dn.items()}
        for group in mapped:
            dn = current_dn.get(group.uuid)
            if dn is not None and normalize_dn(dn) != normalize_dn(group.dn):
                _logger.info("Group %s moved: %r -> %r", group.uuid, group.dn, dn)
                self.groups.upsert(group.uuid, dn, None)
        manages_admin_flag = bool(self._config_admin_dns) or any(g.is_admin for g in mapped)
        if not manages_admin_flag:
            return SyncPlan(is_admin=None, member_uuids=member_uuids)
        is_admin = bool(self._config_admin_dns & user.normalized_group_dns) or any(
            g.is_admin and g.uuid in member_uuids for g in mapped
        )
        return SyncPlan(is_admin=is_admin, member_uuids=member_uuids)

    def apply(self, plan: SyncPlan, username: str) -> bool:
        """Assign/unassign managed roles; True if anything was written."""
        user = self.store.get_user(username)
        managed = self.groups.managed_roles(MANAGED_ROLE_PREFIX)
        wanted = {
            role_id for role_id, name in managed if group_uuid_of_role(name) in plan.member_uuids
        }
        assigned = self.groups.assigned_roles(user.id, MANAGED_ROLE_PREFIX)
        to_assign, to_unassign = role_changes(assigned, wanted)
        for role_id in to_assign:
            try:
                self.store.assign_role_to_user(user.id, role_id)
            except MlflowException as exc:  # a concurrent login assigned it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        for role_id in to_unassign:
            try:
                self.store.unassign_role_from_user(user.id, role_id)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        if to_assign or to_unassign:
            _logger.info("Roles of %r: +%s -%s", username, sorted(to_assign), sorted(to_unassign))
        return bool(to_assign or to_unassign)
