"""A user's groups and the paths through nested groups, assembled from search results.

Pure: plain entry dicts (``dn``, ``attributes``, ``raw_attributes``) in, a
``DirectoryUser`` out. A path is recorded as (parent group DN, child group DN): the
parent was reached because the child (a group of the user, or one reached before) is
one of its members. DNs are matched structurally (``dn_key_or_raw``), so a member
value spelled ``CN=X, OU=Groups`` finds the group ``cn=x,ou=groups``.
"""

from __future__ import annotations

from mlflow_ldap_auth.ldap.dn import DnKey, dn_key_or_raw, is_under
from mlflow_ldap_auth.ldap.entries import DirectoryUser, UserEntry, attributes_of, group_uuid


def uuids_by_dn(entries: list[dict]) -> dict[str, str | None]:
    return {entry["dn"]: group_uuid(entry) for entry in entries}


def member_values(attributes: dict) -> list[str]:
    """The group's member DNs (``member``, ``uniqueMember``, AD's ranged ``member``)."""
    members: list[str] = []
    for name, values in attributes.items():
        # AD sends at most 1,500 values as "member;range=0-1499". Only the nesting
        # *path* shown to admins uses these lists (membership itself comes from the
        # search filter), so a partial list is enough.
        if name in ("member", "uniqueMember") or name.startswith("member;range="):
            members += list(values or [])
    return members


def parents_known(entries: list[dict], known, group_base_key: DnKey) -> bool:
    """No entry's ``memberOf`` names a group under the base that is not in ``known``.

    Only meaningful when the directory maintains ``memberOf`` and it was read: then a
    search for the next nesting level would find nothing new and is skipped.
    """
    for entry in entries:
        for parent in attributes_of(entry).get("memberOf") or []:
            key = dn_key_or_raw(parent)
            if is_under(key, group_base_key) and key not in known:
                return False
    return True


class NestingWalk:
    """The groups found so far while walking up the nesting, one search per level.

    Starts from the user's direct groups; each ``add_level`` takes the groups that
    have a group of the previous level (the *frontier*) as a member. A group found
    again (a cycle, or two paths to one group) is not walked again.
    """

    def __init__(self, direct_entries: list[dict], group_base_key: DnKey) -> None:
        self.direct = [entry["dn"] for entry in direct_entries]
        self.groups: dict[DnKey, str] = {dn_key_or_raw(dn): dn for dn in self.direct}
        self.uuids = uuids_by_dn(direct_entries)
        self.parents: list[tuple[str, str]] = []
        #: The groups the last level found, and their entries.
        self.frontier = self.direct
        self._frontier_entries = direct_entries
        self._base_key = group_base_key

    @property
    def frontier_entries(self) -> list[dict]:
        """The entries of the groups in ``frontier``."""
        return self._frontier_entries

    def frontier_parents_known(self) -> bool:
        """No frontier group's ``memberOf`` names a group not found yet (``parents_known``)."""
        return parents_known(self._frontier_entries, self.groups, self._base_key)

    def add_level(self, entries: list[dict]) -> None:
        """Record one level: ``entries`` are the groups having a frontier group as a member."""
        wanted = {dn_key_or_raw(dn): dn for dn in self.frontier}
        found_next = []
        for entry in entries:
            for key in (dn_key_or_raw(member) for member in member_values(attributes_of(entry))):
                if key in wanted:
                    self.parents.append((entry["dn"], wanted[key]))
            group_key = dn_key_or_raw(entry["dn"])
            if group_key not in self.groups:
                self.groups[group_key] = entry["dn"]
                self.uuids[entry["dn"]] = group_uuid(entry)
                found_next.append(entry["dn"])
        new_keys = {dn_key_or_raw(dn) for dn in found_next}
        self._frontier_entries = [e for e in entries if dn_key_or_raw(e["dn"]) in new_keys]
        self.frontier = found_next

    def user(self, user: UserEntry) -> DirectoryUser:
        return DirectoryUser(
            dn=user.dn,
            username=user.username,
            direct_group_dns=frozenset(self.direct),
            group_dns=frozenset(self.groups.values()),
            group_uuids=tuple((dn, uid) for dn, uid in self.uuids.items() if uid),
            group_parents=tuple(self.parents),
        )


def transitive_user(user: UserEntry, entries: list[dict]) -> DirectoryUser:
    """Every group came back at once (AD in-chain rule or tokenGroups).

    The user's memberOf tells direct from nested (without it, every group counts as
    direct); the groups' memberOf gives the path through nested groups.
    """
    uuids = uuids_by_dn(entries)
    by_key = {dn_key_or_raw(entry["dn"]): entry["dn"] for entry in entries}
    parents = []
    for entry in entries:
        for parent in attributes_of(entry).get("memberOf") or []:
            if dn_key_or_raw(parent) in by_key:
                parents.append((by_key[dn_key_or_raw(parent)], entry["dn"]))
    direct = [dn for key, dn in by_key.items() if key in user.memberof] if user.memberof else []
    return DirectoryUser(
        dn=user.dn,
        username=user.username,
        direct_group_dns=frozenset(direct or by_key.values()),
        group_dns=frozenset(by_key.values()),
        group_parents=tuple(parents),
        group_uuids=tuple((dn, uid) for dn, uid in uuids.items() if uid),
    )
