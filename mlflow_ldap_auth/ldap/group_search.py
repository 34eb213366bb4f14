"""The ``search`` method of group resolution: the user's groups by ``group_search_filter``.

``GroupSearch`` asks for the groups that have the user as a member, then (nesting on)
for the groups that have those as members, level by level; ``InChainSearch`` sends
one search whose filter uses Active Directory's in-chain matching rule, and the DC
follows the nesting itself. The membership graph a batched search of several users
builds (``resolve_many``) is ``ldap.member_graph``.
"""

from __future__ import annotations

import functools
import re

import ldap3

from mlflow_ldap_auth.ldap.connection import LdapConnection
from mlflow_ldap_auth.ldap.dn import InvalidDn, dn_key_or_raw, filter_value, is_under, parse_dn
from mlflow_ldap_auth.ldap.entries import (
    UUID_ATTRIBUTES,
    DirectoryUser,
    UserEntry,
    attributes_of,
)
from mlflow_ldap_auth.ldap.group_entry_cache import (
    GroupEntryCache,
    GroupNode,
    level_entries,
    plain_entries,
)
from mlflow_ldap_auth.ldap.group_paths import (
    NestingWalk,
    transitive_user,
)
from mlflow_ldap_auth.ldap.member_graph import _is_ranged, _MemberGraph

#: Bound on group-of-group recursion (OpenLDAP); cycles are cut by a visited set.
MAX_NESTING_DEPTH = 8

#: Most parents whose own parents a named read also asks for (the look-ahead): each
#: parent adds one clause per member test of the filter, and ldap3 builds a request
#: at ~0.03 ms of CPU per clause (two or three per parent with the default filter),
#: more than a round trip to the directory costs once there are more than a few.
AHEAD_MAX_PARENTS = 10

#: What a search for the next level reads: members (for the path) and memberOf.
_LEVEL_ATTRIBUTES = ["member", "uniqueMember", "memberOf", *UUID_ATTRIBUTES]


#: ``(member={user_dn})``, ``(|(member={user_dn})(uniqueMember={user_dn}))`` and the like:
#: filters whose every match can be told from the group's member values.
_MEMBER_ONLY = re.compile(
    r"\((?:member|uniqueMember)=\{user_dn\}\)"
    r"|\(\|(?:\((?:member|uniqueMember)=\{user_dn\}\))+\)",
    re.IGNORECASE,
)


def is_member_only(template: str) -> bool:
    """Whether ``template`` only tests ``member`` / ``uniqueMember`` against the user's DN."""
    return _MEMBER_ONLY.fullmatch(template.strip()) is not None


def member_filter(template: str, member_dns: list[str], username: str) -> str:
    """``group_search_filter`` for groups having any of ``member_dns`` as a member."""
    # RFC 4515: the DN and the username are values in the filter, escaped.
    parts = [
        template.format(user_dn=filter_value(dn), username=filter_value(username))
        for dn in member_dns
    ]
    return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"


class GroupSearch:
    """The user's groups by the filter, then (``nested``) their parents level by level.

    One search per level (groups having any group of the previous level as a member),
    cycle-safe and at most ``MAX_NESTING_DEPTH`` levels. When the directory maintains
    ``memberOf`` (the user entry has it), each level's entries already name their
    parents, so the last, empty level is not searched: a user in no nested group costs
    one group search. With ``groups`` (a ``GroupEntryCache``: only for a filter that
    ``is_member_only``) the levels above the user's direct groups come from memory
    when every parent is remembered there.
    """

    def __init__(
        self,
        group_base: str,
        template: str,
        nested: bool,
        groups: GroupEntryCache | None = None,
    ) -> None:
        self._base = group_base
        self._base_key = dn_key_or_raw(group_base)
        self._template = template
        self.nested = nested
        #: Nesting may follow memberOf (when the user's entry has it): see the climb.
        self._climbs_by_memberof = nested and is_member_only(template)
        self._groups = groups if self._climbs_by_memberof else None

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser:
        first_level = [*UUID_ATTRIBUTES, "memberOf"] if self.nested else UUID_ATTRIBUTES
        direct = self._search(connection, [user.dn], user, first_level)
        if self._climbs_by_memberof and user.memberof:
            walk = NestingWalk(plain_entries(direct), self._base_key)
            self._climb_by_memberof(connection, walk, user)
            return walk.user(user)
        walk = NestingWalk(direct, self._base_key)
        depth = 1
        while self.nested and walk.frontier and depth < MAX_NESTING_DEPTH:
            if user.memberof and walk.frontier_parents_known():
                break
            depth += 1
            walk.add_level(self._search(connection, walk.frontier, user, _LEVEL_ATTRIBUTES))
        return walk.user(user)

    def _climb_by_memberof(self, connection: LdapConnection, walk: NestingWalk, user) -> None:
        """The levels above the user's groups when every group names its parents.

        The directory maintains ``memberOf`` and the filter only tests membership, so the
        groups having a level's groups as members are exactly the groups those name in
        ``memberOf``. Each level is then taken from the group entry cache, or from one
        search that reads the missing parents by their naming attribute (a filter as
        long as the parents are many, not the children: a user in 400 teams of 80
        departments asks for 80 names) and, in the same request when the parents are
        few (``AHEAD_MAX_PARENTS``), the groups having any parent as a member: the level
        above, whose names are not known yet. So three levels of nesting of a user in a
        few groups cost at most one search after the user's direct groups; a user in
        many costs one search per level, each with a clause per missing group (a user
        in 400 teams: 80 names, then 20) instead of one whose look-ahead tests
        membership of all 80 (240 clauses with the default filter, most of the CPU of
        that login's group reads went to ldap3 building it). Member lists are never
        read: the paths come from ``memberOf``.
        """
        remembered = self._groups
        if remembered is not None:
            remembered.remember(walk.frontier_entries)
        fetched_ahead: dict = {}
        depth = 1
        while walk.frontier and depth < MAX_NESTING_DEPTH:
            names, children = _parents(walk.frontier_entries, self._base_key, walk.groups)
            if not names:
                return
            nodes = {key: fetched_ahead[key] for key in names if key in fetched_ahead}
            if remembered is not None and len(nodes) < len(names):
                nodes.update(remembered.known(key for key in names if key not in nodes))
            if len(nodes) < len(names):
                wanted = [dn for key, dn in names.items() if key not in nodes]
                entries = self._read_named(connection, wanted, list(names.values()), user)
                by_name = entries is not None
                if entries is None:  # a name no filter can state: the member search
                    entries = self._search(connection, walk.frontier, user, _LEVEL_ATTRIBUTES)
                else:
                    entries = plain_entries(entries)
                if remembered is not None:
                    remembered.remember(entries)
                if not by_name:
                    walk.add_level(entries)
                    depth += 1
                    continue
                fetched_ahead = {dn_key_or_raw(e["dn"]): GroupNode.of(e) for e in entries}
                nodes.update({key: fetched_ahead[key] for key in names if key in fetched_ahead})
            walk.add_level(level_entries(children, nodes))
            depth += 1

    def _read_named(
        self, connection: LdapConnection, dns: list[str], parents: list[str], user
    ) -> list[dict] | None:
        """Entries ``dns`` (by naming attribute) and, for a few ``parents``, the groups
        having any of them as a member, in one search; None when a DN cannot be put in
        a filter."""
        named = []
        for dn in dns:
            clause = rdn_filter(dn)
            if clause is None:
                return None
            named.append(clause)
        ahead = ""
        if len(parents) <= AHEAD_MAX_PARENTS:
            ahead = member_filter(self._template, parents, user.username)
        search_filter = "(|" + "".join(named) + ahead + ")"
        return connection.search(
            self._base, search_filter, ldap3.SUBTREE, ["memberOf", *UUID_ATTRIBUTES]
        )

    def _search(
        self,
        connection: LdapConnection,
        member_dns: list[str],
        user: UserEntry,
        attributes: list[str],
    ) -> list[dict]:
        search_filter = member_filter(self._template, member_dns, user.username)
        return connection.search(self._base, search_filter, ldap3.SUBTREE, attributes)

    def resolve_many(
        self, connection: LdapConnection, users: list[UserEntry]
    ) -> list[DirectoryUser]:
        """Several users at once (revalidation): one search per nesting level for all.

        Only for a filter whose matches can be read off the groups' member values
        (``is_member_only``, e.g. the default); the groups found are those ``resolve``
        finds for each user, since a group matches a user's filter exactly when the
        user's DN is among its ``member`` / ``uniqueMember`` values. Other filters:
        ``resolve`` per user.
        """
        if len(users) <= 1 or not is_member_only(self._template):
            return [self.resolve(connection, user) for user in users]
        graph = _MemberGraph()
        level = self._search(connection, [u.dn for u in users], users[0], _LEVEL_ATTRIBUTES)
        if any(_is_ranged(entry) for entry in level):
            # AD sends long member lists in ranges: membership cannot be read off them.
            return [self.resolve(connection, user) for user in users]
        graph.add(level)
        frontier = [entry["dn"] for entry in level]
        depth = 1
        while self.nested and frontier and depth < MAX_NESTING_DEPTH:
            if all(u.memberof for u in users) and graph.parents_known(frontier, self._base_key):
                break
            depth += 1
            level = self._search(connection, frontier, users[0], _LEVEL_ATTRIBUTES)
            frontier = graph.add(level)
        return [graph.user(user, self.nested, self._base_key) for user in users]


def _parents(entries: list[dict], base_key, found) -> tuple[dict, dict]:
    """The groups under the base that ``entries`` name in ``memberOf``, not in ``found``:
    (DN key -> the DN as first spelled, DN key -> the DNs of the entries naming it)."""
    names: dict = {}
    children: dict = {}
    for entry in entries:
        for parent in attributes_of(entry).get("memberOf") or ():
            key = dn_key_or_raw(parent)
            if key in found or not is_under(key, base_key):
                continue
            names.setdefault(key, parent)
            children.setdefault(key, []).append(entry["dn"])
    return names, children


@functools.lru_cache(maxsize=16_384)
def rdn_filter(dn: str) -> str | None:
    """``(cn=name)`` for ``cn=name,ou=...`` (all of a multi-valued RDN, ANDed); None for
    a DN that does not parse or whose naming value is a hexstring.

    Remembered: parsing a DN costs ~70 µs, and the same parent groups are named at
    every login (80 departments and 20 divisions for a user in 400 teams).
    """
    try:
        rdn = parse_dn(dn)[0]
    except (InvalidDn, IndexError):
        return None
    if any(value.startswith("#") for _, value in rdn):
        return None
    # RFC 4515: the value is escaped for the filter.
    parts = [f"({name}={filter_value(value)})" for name, value in rdn]
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


class InChainSearch:
    """AD's LDAP_MATCHING_RULE_IN_CHAIN in the filter: one search finds nested groups too."""

    def __init__(self, group_base: str, template: str) -> None:
        self._base = group_base
        self._template = template

    def resolve_many(
        self, connection: LdapConnection, users: list[UserEntry]
    ) -> list[DirectoryUser]:
        return [self.resolve(connection, user) for user in users]

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser:
        entries = connection.search(
            self._base,
            member_filter(self._template, [user.dn], user.username),
            ldap3.SUBTREE,
            [*UUID_ATTRIBUTES, "memberOf"],
        )
        return transitive_user(user, entries)
