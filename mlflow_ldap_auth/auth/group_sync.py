"""At every fresh bind: bring a user's admin flag and managed roles in line with the directory.

``plan`` (before the user is provisioned) reads the mapped groups, takes the access
decision (``AccessPolicy``) and records renamed/moved groups; ``apply`` (after) assigns
the managed roles of the user's groups (direct and nested) and unassigns the others,
writing only what changed. Roles that are not ``ldap-group:*`` are never touched.

Staleness: a mapping or membership change reaches a logged-in user at their next fresh
bind, i.e. within ``cache_ttl_seconds`` (or at once after a cache flush on that worker),
plus up to ``permission_cache_ttl_seconds`` on workers other than the one that changed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.auth.access import (
    MANAGED_ROLE_PREFIX,
    AccessDecision,
    group_uuid_of_role,
    role_changes,
)
from mlflow_ldap_auth.auth.access_policy import AccessPolicy
from mlflow_ldap_auth.ldap.directory import DirectoryUser
from mlflow_ldap_auth.ldap.dn import dn_key_or_raw
from mlflow_ldap_auth.mappings.store import GroupStore

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncPlan:
    decision: AccessDecision
    member_uuids: frozenset[str] = field(default_factory=frozenset)


class GroupSync:
    def __init__(self, store, groups: GroupStore, policy: AccessPolicy) -> None:
        self.store = store
        self.groups = groups
        self.policy = policy

    def plan(self, user: DirectoryUser) -> SyncPlan:
        mapped = self.groups.list()
        uuid_by_dn = user.uuid_by_group_dn
        current_dn = {group_uuid: dn for dn, group_uuid in uuid_by_dn.items()}
        for group in mapped:
            dn = current_dn.get(group.uuid)
            if dn is not None and dn_key_or_raw(dn) != dn_key_or_raw(group.dn):
                _logger.info("Group %s moved: %r -> %r", group.uuid, group.dn, dn)
                self.groups.upsert(group.uuid, dn, None)
        return SyncPlan(
            decision=self.policy.decide(user, mapped),
            member_uuids=frozenset(uuid_by_dn.values()),
        )

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
