"""The ``search`` method of group resolution: the user's groups by ``group_search_filter``.

``GroupSearch`` asks for the groups that have the user as a member, then (nesting on)
for the groups that have those as members, level by level; ``InChainSearch`` sends
one search whose filter uses Active Directory's in-chain matching rule, and the DC
follows the nesting itself.
"""

from __future__ import annotations

import ldap3

from mlflow_ldap_auth.ldap.connection import LdapConnection
from mlflow_ldap_auth.ldap.dn import dn_key_or_raw, filter_value
from mlflow_ldap_auth.ldap.entries import UUID_ATTRIBUTES, DirectoryUser, UserEntry
from mlflow_ldap_auth.ldap.group_paths import NestingWalk, transitive_user

#: Bound on group-of-group recursion (OpenLDAP); cycles are cut by a visited set.
MAX_NESTING_DEPTH = 8

#: What a search for the next level reads: members (for the path) and memberOf.
_LEVEL_ATTRIBUTES = ["member", "uniqueMember", "memberOf", *UUID_ATTRIBUTES]


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
    one group search.
    """

    def __init__(self, group_base: str, template: str, nested: bool) -> None:
        self._base = group_base
        self._base_key = dn_key_or_raw(group_base)
        self._template = template
        self.nested = nested

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser:
        first_level = [*UUID_ATTRIBUTES, "memberOf"] if self.nested else UUID_ATTRIBUTES
        walk = NestingWalk(self._search(connection, [user.dn], user, first_level), self._base_key)
        depth = 1
        while self.nested and walk.frontier and depth < MAX_NESTING_DEPTH:
            if user.memberof and walk.frontier_parents_known():
                break
            depth += 1
            walk.add_level(self._search(connection, walk.frontier, user, _LEVEL_ATTRIBUTES))
        return walk.user(user)

    def _search(
        self,
        connection: LdapConnection,
        member_dns: list[str],
        user: UserEntry,
        attributes: list[str],
    ) -> list[dict]:
        search_filter = member_filter(self._template, member_dns, user.username)
        return connection.search(self._base, search_filter, ldap3.SUBTREE, attributes)


class InChainSearch:
    """AD's LDAP_MATCHING_RULE_IN_CHAIN in the filter: one search finds nested groups too."""

    def __init__(self, group_base: str, template: str) -> None:
        self._base = group_base
        self._template = template

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser:
        entries = connection.search(
            self._base,
            member_filter(self._template, [user.dn], user.username),
            ldap3.SUBTREE,
            [*UUID_ATTRIBUTES, "memberOf"],
        )
        return transitive_user(user, entries)
