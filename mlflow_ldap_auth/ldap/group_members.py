"""Who is in a group: its people, direct and through nested groups (admin answers).

The reverse of ``groups``: not "which groups is this user in" but "who is in this
group". Used by "who has access" and the mapping previews (docs/admin-page.md), never by a login.

How (one search per nesting level, plus one per 200 people listed):

* the group's entry is read with its member values (``member``, ``uniqueMember``, and
  ``memberUid`` of a posixGroup, which names people by username);
* member DNs under ``group_search_base`` may be groups: they are read by naming
  attribute (``group_search.rdn_filter``) in one search under the base, limited to the
  group object classes, and a found entry whose DN equals the member DN structurally is
  a nested group (its members are the next level); every other member DN is a person;
* people are counted by structural DN key (a person in two subgroups counts once); the
  first ``limit`` of them (in DN order, so a page shows the same people each time) are
  read under ``user_search_base`` for their username attribute, again by naming
  attribute, and matched back structurally. A member DN with no entry (a dangling
  reference) is counted but not listed.

Naming: ``group_dn`` is a DN; ``person_keys`` a frozenset of DN keys; ``usernames`` the
values of ``username_attribute``. AD sends member lists longer than 1,500 values in
ranges: such a group is reported ``complete = False`` (its count is a lower bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import ldap3

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.ldap.connection import LdapConnection, wire_dn
from mlflow_ldap_auth.ldap.dn import DnKey, InvalidDn, canonical_dn, dn_key_or_raw, is_under
from mlflow_ldap_auth.ldap.entries import attributes_of, first
from mlflow_ldap_auth.ldap.group_lookup import GROUP_OBJECT_CLASSES
from mlflow_ldap_auth.ldap.group_paths import member_values
from mlflow_ldap_auth.ldap.group_search import MAX_NESTING_DEPTH, rdn_filter
from mlflow_ldap_auth.ldap.service_account import ServiceConnections

#: People listed per group by default (docs/admin-page.md#who-has-access-and-why: the
#: first 200 of each group listed, every group counted).
DEFAULT_LIMIT = 200
#: Naming-attribute clauses per search (keeps filters well under server limits).
_CHUNK = 200
_GROUP_CLASSES = (
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)"
    "(objectClass=posixGroup)(objectClass=group))"
)
_MEMBER_ATTRIBUTES = ["member", "uniqueMember", "memberUid", "objectClass"]


@dataclass(frozen=True)
class GroupMember:
    username: str
    dn: str | None
    #: The nested groups through which the person is a member, outermost first
    #: (empty for a direct member).
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberList:
    """The people of one group, direct and nested."""

    group_dn: str
    #: The first ``limit`` people found, in DN order.
    members: tuple[GroupMember, ...]
    #: Distinct people (DN references and posix member names) in the group and its subgroups.
    count: int
    #: Every person's DN key (not only the listed ones): for "is X in this group".
    person_keys: frozenset[DnKey]
    #: posixGroup ``memberUid`` values (usernames, case as stored).
    member_uids: frozenset[str]
    subgroups: tuple[str, ...] = ()
    #: False when the directory sent only part of a member list (AD ranges).
    complete: bool = True
    exists: bool = True

    def contains(self, person_key: DnKey | None, username: str) -> bool:
        if person_key is not None and person_key in self.person_keys:
            return True
        return username.casefold() in {uid.casefold() for uid in self.member_uids}


class GroupMembers:
    """Reads group member lists on service connections."""

    def __init__(self, settings: LdapSettings, service: ServiceConnections) -> None:
        self._service = service
        self._nested = settings.nested_groups
        group_base = wire_dn(settings.group_search_base)
        self._group_base = group_base
        self._group_base_key = dn_key_or_raw(group_base) if group_base else None
        self._user_base = wire_dn(settings.user_search_base)
        self._username_attribute = settings.username_attribute

    def of(self, group_dn: str, limit: int = DEFAULT_LIMIT) -> MemberList:
        """The people of ``group_dn`` (``DirectoryUnavailable`` if the directory is down)."""
        return self._service.run(lambda connection: self._walk(connection, group_dn, limit))

    # -- the walk --------------------------------------------------------
    def _walk(self, connection: LdapConnection, group_dn: str, limit: int) -> MemberList:
        try:
            base = canonical_dn(group_dn)
        except InvalidDn:
            return _missing(group_dn)
        top = connection.search(base, "(objectClass=*)", ldap3.BASE, _MEMBER_ATTRIBUTES)
        if not top:
            return _missing(group_dn)
        seen_groups: set[DnKey] = {dn_key_or_raw(top[0]["dn"])}
        # person DN key -> (DN as spelled, path of nested groups)
        people: dict[DnKey, tuple[str, tuple[str, ...]]] = {}
        uids: dict[str, tuple[str, ...]] = {}
        subgroups: list[str] = []
        complete = True
        level: list[tuple[dict, tuple[str, ...]]] = [(top[0], ())]
        depth = 0
        while level:
            depth += 1
            candidates: dict[DnKey, tuple[str, tuple[str, ...]]] = {}
            for entry, path in level:
                attributes = attributes_of(entry)
                complete = complete and not any(";range=" in name for name in attributes)
                for uid in attributes.get("memberUid") or ():
                    uids.setdefault(str(uid), path)
                for member in member_values(attributes):
                    key = dn_key_or_raw(member)
                    if key in seen_groups or key in people or key in candidates:
                        continue
                    if self._may_be_group(key) and self._nested and depth < MAX_NESTING_DEPTH:
                        candidates[key] = (member, path)
                    else:
                        people[key] = (member, path)
            found = self._read_groups(connection, candidates) if candidates else {}
            level = []
            for key, (member, path) in candidates.items():
                group = found.get(key)
                if group is None:
                    people[key] = (member, path)
                    continue
                seen_groups.add(key)
                subgroups.append(group["dn"])
                level.append((group, (*path, group["dn"])))
        ordered = sorted(people.items(), key=lambda item: _order(item[0]))
        listed = self._usernames(connection, ordered[:limit])
        members = [
            GroupMember(username=name, dn=dn, via=path)
            for key, (dn, path) in ordered[:limit]
            if (name := listed.get(key)) is not None
        ]
        known = {m.username.casefold() for m in members}
        for uid, path in sorted(uids.items(), key=lambda item: item[0].casefold()):
            if len(members) >= limit:
                break
            if uid.casefold() not in known:
                members.append(GroupMember(username=uid, dn=None, via=path))
                known.add(uid.casefold())
        return MemberList(
            group_dn=top[0]["dn"],
            members=tuple(members),
            count=len(people) + len(uids),
            person_keys=frozenset(people),
            member_uids=frozenset(uids),
            subgroups=tuple(subgroups),
            complete=complete,
        )

    def _may_be_group(self, key: DnKey) -> bool:
        # A group is an entry under group_search_base with a group class
        # (docs/configuration.md#rules-between-keys).
        return self._group_base_key is not None and is_under(key, self._group_base_key)

    def _read_groups(
        self, connection: LdapConnection, candidates: dict[DnKey, tuple[str, tuple]]
    ) -> dict[DnKey, dict]:
        """The candidates that are groups: DN key -> entry (with member values)."""
        # Candidates are only entries under group_search_base (_may_be_group).
        assert self._group_base is not None
        found: dict[DnKey, dict] = {}
        for chunk in _chunks(list(candidates.items()), _CHUNK):
            clauses = [clause for _, (dn, _) in chunk if (clause := rdn_filter(dn))]
            if not clauses:
                continue
            search_filter = f"(&{_GROUP_CLASSES}(|{''.join(clauses)}))"
            for entry in connection.search(
                self._group_base, search_filter, ldap3.SUBTREE, _MEMBER_ATTRIBUTES
            ):
                key = dn_key_or_raw(entry["dn"])
                classes = {str(v).casefold() for v in attributes_of(entry).get("objectClass") or []}
                if key in candidates and classes & GROUP_OBJECT_CLASSES:
                    found[key] = entry
        return found

    def _usernames(
        self, connection: LdapConnection, people: list[tuple[DnKey, tuple[str, tuple]]]
    ) -> dict[DnKey, str]:
        """Username attribute of each person, read by naming attribute and matched back."""
        names: dict[DnKey, str] = {}
        wanted = dict(people)
        for chunk in _chunks(people, _CHUNK):
            by_filter = [(key, dn, rdn_filter(dn)) for key, (dn, _) in chunk]
            clauses = [clause for _, _, clause in by_filter if clause]
            if self._user_base and clauses:
                entries = connection.search(
                    self._user_base,
                    "(|" + "".join(clauses) + ")",
                    ldap3.SUBTREE,
                    [self._username_attribute],
                )
                for entry in entries:
                    key = dn_key_or_raw(entry["dn"])
                    value = first(attributes_of(entry).get(self._username_attribute))
                    if key in wanted and value:
                        names[key] = str(value)
            for key, dn, clause in by_filter:
                if key in names or (self._user_base and clause):
                    continue
                # No user base (direct bind) or a name no filter can state: read the entry.
                entries = connection.search(
                    dn, "(objectClass=*)", ldap3.BASE, [self._username_attribute]
                )
                values = attributes_of(entries[0]) if entries else {}
                value = first(values.get(self._username_attribute))
                if value:
                    names[key] = str(value)
        return names


def _missing(group_dn: str) -> MemberList:
    return MemberList(
        group_dn=group_dn,
        members=(),
        count=0,
        person_keys=frozenset(),
        member_uids=frozenset(),
        exists=False,
    )


def _order(key: DnKey) -> tuple:
    """A person's place in the listing: by leaf RDN first (``uid=alice`` before ``uid=bob``)."""
    return tuple(tuple(sorted(rdn)) for rdn in key)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
