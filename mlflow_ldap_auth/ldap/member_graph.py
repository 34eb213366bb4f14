"""The membership graph of a batched group search: several users' groups at once.

``GroupSearch.resolve_many`` (revalidation) searches one nesting level for all users at
a time; ``_MemberGraph`` keeps the groups found and which member is in which, and reads
each user's groups, parents and ids off it as ``resolve`` would have found them. Apart
from the search itself because it never talks to the directory.
"""

from __future__ import annotations

from mlflow_ldap_auth.ldap.dn import dn_key_or_raw
from mlflow_ldap_auth.ldap.entries import DirectoryUser, UserEntry, attributes_of, group_uuid
from mlflow_ldap_auth.ldap.group_paths import member_values, parents_known


def _is_ranged(entry: dict) -> bool:
    return any(";range=" in name for name in attributes_of(entry))


class _MemberGraph:
    """Groups found by batched level searches, and who is a member of which."""

    def __init__(self) -> None:
        self.entries: dict = {}  # group DN key -> entry
        self.containing: dict = {}  # member DN key -> [group DN keys having it as member]

    def add(self, entries: list[dict]) -> list[str]:
        """Record a level; the DNs of the groups not seen before (the next frontier)."""
        new = []
        for entry in entries:
            key = dn_key_or_raw(entry["dn"])
            if key in self.entries:
                continue
            self.entries[key] = entry
            new.append(entry["dn"])
            for member in member_values(attributes_of(entry)):
                self.containing.setdefault(dn_key_or_raw(member), []).append(key)
        return new

    def parents_known(self, frontier: list[str], base_key) -> bool:
        entries = [self.entries[dn_key_or_raw(dn)] for dn in frontier]
        return parents_known(entries, self.entries, base_key)

    def user(self, user: UserEntry, nested: bool, base_key) -> DirectoryUser:
        direct = list(dict.fromkeys(self.containing.get(dn_key_or_raw(user.dn), [])))
        seen = dict.fromkeys(direct)
        parents: list[tuple[str, str]] = []
        frontier = direct
        while nested and frontier:
            following = []
            for child in frontier:
                for parent in self.containing.get(child, []):
                    parents.append((self.entries[parent]["dn"], self.entries[child]["dn"]))
                    if parent not in seen:
                        seen[parent] = None
                        following.append(parent)
            frontier = following
        dns = [self.entries[key]["dn"] for key in seen]
        uuids = ((self.entries[key]["dn"], group_uuid(self.entries[key])) for key in seen)
        return DirectoryUser(
            dn=user.dn,
            username=user.username,
            direct_group_dns=frozenset(self.entries[key]["dn"] for key in direct),
            group_dns=frozenset(dns),
            group_parents=tuple(parents),
            group_uuids=tuple((dn, uid) for dn, uid in uuids if uid),
        )
