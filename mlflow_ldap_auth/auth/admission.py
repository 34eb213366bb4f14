"""After the directory vouched for a user: the access decision, provisioning, role sync.

The same steps run at a fresh login (after a password bind) and at a revalidation
(after a service-account read of the entry), so a user's admin flag, groups and grants
come out the same either way. The managed roles the user should have are read before
provisioning: a first login writes them with the user's row, in one transaction, and
the role sync then has nothing to read or write.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow_ldap_auth.auth.group_sync import GroupSync
from mlflow_ldap_auth.auth.provisioning import Provisioner
from mlflow_ldap_auth.errors import NotAllowed
from mlflow_ldap_auth.ldap.entries import DirectoryUser

NOT_IN_ALLOWED_GROUPS = "not_in_allowed_groups"


@dataclass(frozen=True)
class Admitted:
    is_admin: bool
    #: The admin flag or a managed role changed in MLflow's store.
    changed: bool


class Admission:
    def __init__(self, sync: GroupSync, provisioner: Provisioner) -> None:
        self.sync = sync
        self.provisioner = provisioner

    def admit(self, user: DirectoryUser, source: str | None) -> Admitted:
        """Provision ``user`` and bring flag and roles in line; ``NotAllowed`` if refused."""
        plan = self.sync.plan(user)
        if not plan.decision.allowed:
            raise NotAllowed(
                f"{user.dn} is in none of allowed_groups", reason=NOT_IN_ALLOWED_GROUPS
            )
        wanted = self.sync.wanted_roles(plan)
        row = self.provisioner.provision(
            user.username, plan.decision.is_admin, source, roles=wanted
        )
        if row.roles_assigned:
            roles_changed = bool(wanted)
        else:
            roles_changed = self.sync.apply(plan, user.username, user_id=row.user_id, wanted=wanted)
        return Admitted(is_admin=row.is_admin, changed=roles_changed or row.changed)
