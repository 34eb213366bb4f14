"""The access decision bound to its inputs: the configuration's groups and the mappings.

``AccessPolicy.decide(user)`` is what login, the user-lookup API, the admin page and
``check --user`` all ask (``access.decide`` is the pure rule). ``admin_groups`` and
``allowed_groups`` are resolved in the directory once per process to their stable ids
(``ConfiguredGroups``), so a look-alike entry never matches and a renamed group keeps
matching; until a group can be resolved (directory down, group not created yet) its
structural DN is compared instead, and resolution is tried again later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mlflow_ldap_auth.auth.access import AccessDecision, GroupRef, decide
from mlflow_ldap_auth.auth.group_table import GroupTable, MappedGroup
from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.directory import Directory, DirectoryUser
from mlflow_ldap_auth.ldap.dn import dn_key

_logger = logging.getLogger(__name__)

#: How long an unresolved configured group waits before it is looked up again.
RESOLVE_RETRY_SECONDS = 30.0


class ConfiguredGroups:
    """``admin_groups`` / ``allowed_groups`` as ``GroupRef`` tuples, resolved lazily."""

    def __init__(
        self,
        admin_group_dns: tuple[str, ...],
        allowed_group_dns: tuple[str, ...],
        directory: Directory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dns = {"admin_groups": admin_group_dns, "allowed_groups": allowed_group_dns}
        self._refs = {
            key: {dn: GroupRef(dn_key(dn)) for dn in dns} for key, dns in self._dns.items()
        }
        self._directory = directory
        self._clock = clock
        self._lock = threading.Lock()
        self._next_attempt = 0.0

    @property
    def configured(self) -> bool:
        return any(self._dns.values())

    def admin_group_uuids(self) -> dict[str, str | None]:
        """Each ``admin_groups`` DN as configured -> its stable id, once resolved."""
        self._resolve_if_due()
        return {dn: ref.uuid for dn, ref in self._refs["admin_groups"].items()}

    def refs(self) -> tuple[tuple[GroupRef, ...], tuple[GroupRef, ...]]:
        """(admin refs, allowed refs); resolves the unresolved ones when due, never waits."""
        self._resolve_if_due()
        return tuple(self._refs["admin_groups"].values()), tuple(
            self._refs["allowed_groups"].values()
        )

    def _resolve_if_due(self) -> None:
        now = self._clock()
        unresolved = [
            (key, dn)
            for key, refs in self._refs.items()
            for dn, ref in refs.items()
            if not ref.uuid
        ]
        if not unresolved or now < self._next_attempt or not self._lock.acquire(blocking=False):
            return
        try:
            self._next_attempt = now + RESOLVE_RETRY_SECONDS
            for key, dn in unresolved:
                try:
                    found = self._directory.read_group(dn)
                except DirectoryUnavailable as exc:
                    _logger.warning("[ldap] %s: %r not resolved yet: %s", key, dn, exc)
                    return
                if found is None or not found.uuid or not found.is_group:
                    what = "no such entry" if found is None else "not a group with a stable id"
                    _logger.warning("[ldap] %s: %r: %s (compared by DN)", key, dn, what)
                    continue
                self._refs[key] = {
                    **self._refs[key],
                    dn: GroupRef(dn_key(found.dn), found.uuid),
                }
        finally:
            self._lock.release()


class AccessPolicy:
    def __init__(self, configured: ConfiguredGroups, groups: GroupTable) -> None:
        self.configured = configured
        self.groups = groups

    def decide(
        self, user: DirectoryUser, mapped: list[MappedGroup] | None = None
    ) -> AccessDecision:
        mapped = self.groups.list() if mapped is None else mapped
        admin_refs, allowed_refs = self.configured.refs()
        return decide(
            user.groups,
            admin_refs,
            allowed_refs,
            [group.uuid for group in mapped if group.is_admin],
        )

    def admin_follows_directory(self) -> bool:
        """Whether the directory decides who is an MLflow admin: ``admin_groups`` or
        ``allowed_groups`` configured, or a mapping that grants admin."""
        return self.configured.configured or any(group.is_admin for group in self.groups.list())
