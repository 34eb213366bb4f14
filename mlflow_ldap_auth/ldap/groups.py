"""Resolving a user's groups: one class per method, chosen once from the configuration.

* no ``group_search_base``: ``NoGroups`` (no search);
* ``nested_groups_method = token_groups`` (with ``nested_groups`` on): ``TokenGroups``;
* ``nested_groups_method = in_chain`` (the filter uses AD's LDAP_MATCHING_RULE_IN_CHAIN;
  the configuration makes it the default for such a filter): ``InChainSearch``, the DC
  follows the nesting;
* otherwise ``search``: ``GroupSearch``, with recursion when ``nested_groups`` is on
  and the filter has ``{user_dn}`` (each level's group DNs take the user's place),
  else the direct groups only.
"""

from __future__ import annotations

from typing import Protocol

import ldap3
from ldap3.utils.conv import escape_bytes

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.ldap.connection import LdapConnection, wire_dn
from mlflow_ldap_auth.ldap.entries import UUID_ATTRIBUTES, DirectoryUser, UserEntry
from mlflow_ldap_auth.ldap.group_entry_cache import GroupEntryCache
from mlflow_ldap_auth.ldap.group_paths import transitive_user
from mlflow_ldap_auth.ldap.group_search import GroupSearch, InChainSearch


class GroupResolver(Protocol):
    """Turns a user's entry into the user with groups, on a connection that may search."""

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser: ...

    def resolve_many(
        self, connection: LdapConnection, users: list[UserEntry]
    ) -> list[DirectoryUser]: ...


def group_resolver(settings: LdapSettings, groups: GroupEntryCache | None = None) -> GroupResolver:
    """The resolver the configuration names (see the module docstring).

    ``groups`` remembers upper nesting levels for ``GroupSearch`` (see
    ``group_entry_cache`` for when it is used).
    """
    base = wire_dn(settings.group_search_base)
    if base is None:
        return NoGroups()
    template = settings.group_search_filter
    if settings.nested_groups and settings.nested_groups_method == "token_groups":
        return TokenGroups(base)
    if settings.nested_groups_method == "in_chain":
        return InChainSearch(base, template)
    nested = settings.nested_groups and "{user_dn}" in template
    return GroupSearch(base, template, nested=nested, groups=groups)


class NoGroups:
    """No ``group_search_base``: the user has no groups, and no search is sent."""

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser:
        return DirectoryUser(dn=user.dn, username=user.username)

    def resolve_many(self, connection: LdapConnection, users: list[UserEntry]):
        return [self.resolve(connection, user) for user in users]


class TokenGroups:
    """AD: the user's ``tokenGroups``, then one search for those SIDs.

    ``tokenGroups`` lists every security group the user is in, nested ones included,
    computed by the DC (distribution groups are not in it). Measured against Samba 4:
    ~50 x faster than the in-chain matching rule (benchmarks/bench_ad_groups.py).
    """

    def __init__(self, group_base: str) -> None:
        self._base = group_base

    def resolve_many(self, connection: LdapConnection, users: list[UserEntry]):
        return [self.resolve(connection, user) for user in users]

    def resolve(self, connection: LdapConnection, user: UserEntry) -> DirectoryUser:
        entries = connection.search(user.dn, "(objectClass=*)", ldap3.BASE, ["tokenGroups"])
        raw = (entries[0].get("raw_attributes") or {}).get("tokenGroups") if entries else None
        sids = [sid for sid in raw or [] if isinstance(sid, bytes)]
        if not sids:
            return DirectoryUser(dn=user.dn, username=user.username)
        # RFC 4515: binary values escaped byte by byte.
        wanted = "".join(f"(objectSid={escape_bytes(sid)})" for sid in sids)
        groups = connection.search(
            self._base,
            f"(&(objectClass=group)(|{wanted}))",
            ldap3.SUBTREE,
            [*UUID_ATTRIBUTES, "memberOf"],
        )
        return transitive_user(user, groups)
