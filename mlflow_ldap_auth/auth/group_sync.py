"""At every fresh bind: bring a user's admin flag and managed roles in line with the directory.

``plan`` (before the user is provisioned) reads the mapped groups, takes the access
decision (``AccessPolicy``) and records renamed/moved groups; ``apply`` (after) assigns
the managed roles of the user's groups (direct and nested) and unassigns the others,
writing only what changed. Roles that are not ``ldap-group:*`` are never touched.
``wanted_roles`` reads the managed roles of the plan's groups once, before the user is
provisioned, so that a first login assigns them with the user's row (``admission``).

Staleness: a mapping or membership change reaches a logged-in user at their next fresh
bind, i.e. within ``cache_ttl_seconds`` (or at once after a cache flush on that worker),
plus up to ``permission_cache_ttl_seconds`` on workers other than the one that changed it.

The break-glass admin (``[mlflow] admin_username``) is not a directory user: ``apply``
refuses its name (``NotAllowed``), so no directory entry of that name gets or loses
managed roles on its row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from mlflow_ldap_auth.auth.access import (
    MANAGED_ROLE_PREFIX,
    AccessDecision,
    group_uuid_of_role,
    role_changes,
)
from mlflow_ldap_auth.auth.access_policy import AccessPolicy
from mlflow_ldap_auth.auth.group_table import GroupTable
from mlflow_ldap_auth.auth.names import refuse_break_glass_name
from mlflow_ldap_auth.ldap.directory import DirectoryUser
from mlflow_ldap_auth.ldap.dn import dn_key_or_raw

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncPlan:
    decision: AccessDecision
    member_uuids: frozenset[str] = field(default_factory=frozenset)


class GroupSync:
    def __init__(
        self,
        store,
        groups: GroupTable,
        policy: AccessPolicy,
        *,
        break_glass_name: str,
        after_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.groups = groups
        self.policy = policy
        #: ``[mlflow] admin_username``: never synced as a directory user.
        self.break_glass_name = break_glass_name
        #: Called after role assignments changed (it empties the permission cache).
        self.after_write = after_write

    def plan(self, user: DirectoryUser) -> SyncPlan:
        uuid_by_dn = user.uuid_by_group_dn
        mapped = self.groups.relevant_to(uuid_by_dn.values())
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

    def wanted_roles(self, plan: SyncPlan) -> set[int]:
        """Ids of the managed roles of the plan's groups: what the user should have."""
        managed = self.groups.managed_roles_of(plan.member_uuids)
        return {
            role_id for role_id, name in managed if group_uuid_of_role(name) in plan.member_uuids
        }

    def apply(
        self,
        plan: SyncPlan,
        username: str,
        user_id: int | None = None,
        wanted: set[int] | None = None,
    ) -> bool:
        """Assign/unassign managed roles; True if anything was written. ``wanted``: what
        ``wanted_roles`` answered for the plan (read here if None).

        All changes go in one transaction (``change_role_assignments``), then the
        permission cache is emptied, as a write through MLflow's store does. A
        concurrent login of the same user that assigned a role first makes the write
        fail whole: what is assigned is read again and the rest written.
        ``NotAllowed`` (nothing written) for the break-glass admin's name.
        """
        refuse_break_glass_name(username, self.break_glass_name)
        if user_id is None:
            user_id = self.store.get_user(username).id
        wanted = set(self.wanted_roles(plan) if wanted is None else wanted)
        for attempt in range(3):
            assigned = self.groups.assigned_roles(user_id, MANAGED_ROLE_PREFIX)
            to_assign, to_unassign = role_changes(assigned, wanted)
            if not to_assign and not to_unassign:
                break
            try:
                self.groups.change_assignments(user_id, to_assign, to_unassign)
                break
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
                # A role deleted meanwhile is no longer wanted either.
                managed_ids = {
                    role_id for role_id, _ in self.groups.managed_roles_of(plan.member_uuids)
                }
                wanted &= managed_ids
        if to_assign or to_unassign:
            self.after_write()
            _logger.info("Roles of %r: +%s -%s", username, sorted(to_assign), sorted(to_unassign))
        return bool(to_assign or to_unassign)
