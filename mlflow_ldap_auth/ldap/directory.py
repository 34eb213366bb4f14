"""The LDAP directory, reached with ldap3: user binds, user and group searches.

A facade over the parts, each in its own module:

* ``servers``: server order, down-marking, the circuit breaker, probes;
* ``connection``: one connection, and the spy counting its binds and searches;
* ``binding``: binds with failover, checks before them, AD's bind sub-codes;
* ``service_account``: service-account connections, reused;
* ``users``: finding a user's entry;
* ``groups`` (``group_search``, ``group_paths``): the user's groups, by the method
  the configuration names; ``group_lookup``: groups for mappings; ``group_members``:
  who is in a group (admin answers);
* ``domain``: Active Directory's names;
* ``lockout_policies``: the directory's own lockout policy for an account, and
  ``account_key``: which entry a bind reaches, for the spraying guard.

Two failure families are kept apart everywhere, because the client must see them
differently: the directory *answered* no (``InvalidCredentials`` -> 401) or could not
answer (``DirectoryUnavailable`` -> 503, after trying every configured server).

Every user-supplied value is escaped at the place it is used: ``dn.filter_value`` for
search filters (RFC 4515), ``dn.rdn_value`` for DN templates (RFC 4514). DNs are
compared structurally (``dn.dn_key``: RDN sequence, each RDN a set of type=value).
"""

from __future__ import annotations

import dataclasses

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.account_key import account_key, unknown_name_key
from mlflow_ldap_auth.ldap.binding import (
    MAX_USERNAME_LENGTH,
    THROTTLED,
    Binder,
    BindGuard,
    ad_bind_reason,
    check_login,
)
from mlflow_ldap_auth.ldap.connection import (
    LdapConnection,
    OperationCounter,
    StaleConnection,
    wire_dn,
)
from mlflow_ldap_auth.ldap.domain import DomainFacts
from mlflow_ldap_auth.ldap.entries import DirectoryGroup, DirectoryUser, UserEntry, group_uuid
from mlflow_ldap_auth.ldap.group_entry_cache import GroupEntryCache
from mlflow_ldap_auth.ldap.group_lookup import GroupLookup
from mlflow_ldap_auth.ldap.group_members import DEFAULT_LIMIT, GroupMembers, MemberList
from mlflow_ldap_auth.ldap.groups import group_resolver
from mlflow_ldap_auth.ldap.lockout_policies import DirectoryPolicies
from mlflow_ldap_auth.ldap.login_names import DomainNames, LoginName, has_domain_part, resolve
from mlflow_ldap_auth.ldap.servers import ServerPool, ServerState
from mlflow_ldap_auth.ldap.service_account import ServiceConnections
from mlflow_ldap_auth.ldap.service_principals import SpnAccount, read_spn_accounts
from mlflow_ldap_auth.ldap.users import UserLookup
from mlflow_ldap_auth.metrics import NULL_METRICS, Metrics

__all__ = [
    "BindGuard",
    "Directory",
    "DirectoryGroup",
    "DirectoryUser",
    "OperationCounter",
    "ServerState",
    "ad_bind_reason",
    "group_uuid",
]


class Directory:
    """Authenticates users and reads their groups; thread-safe."""

    def __init__(self, settings: LdapSettings, metrics: Metrics = NULL_METRICS) -> None:
        self.settings = settings
        #: Every bind and search sent (the status API reports it).
        self.operations = OperationCounter(metrics=metrics)
        self._login_domains = frozenset(domain.casefold() for domain in settings.login_domains)
        self._servers = ServerPool(settings, metrics)
        self._binder = Binder(self._servers, self.operations)
        self._service = ServiceConnections(
            self._binder, wire_dn(settings.bind_dn), settings.bind_password
        )
        self._users = UserLookup(settings)
        #: Upper nesting levels, remembered for ``cache_ttl_seconds`` (service account
        #: reads only: a direct bind reads groups as each user).
        self.group_entries: GroupEntryCache | None = None
        if settings.uses_search and settings.cache_ttl_seconds > 0:
            self.group_entries = GroupEntryCache(settings.cache_ttl_seconds)
        self._groups = group_resolver(settings, self.group_entries)
        self._group_lookup = GroupLookup(settings, self._service)
        self._group_members = GroupMembers(settings, self._service)
        self._domain = DomainFacts(self._service)
        self._policies = DirectoryPolicies(self._service)

    # -- people ----------------------------------------------------------
    def authenticate(
        self, login: str, password: str, guard: BindGuard | None = None
    ) -> DirectoryUser:
        """Verify ``password`` for ``login``; return the user with groups.

        ``guard`` (the password-spraying guard) is asked for a slot right before the
        password bind, for the entry the bind reaches (``account_key``) and with the
        directory's own lockout policy for it; a refused bind keeps its slot.

        Search-then-bind: a name no entry matches costs what a wrong password costs (the
        same search, slot and bind, the bind at ``UserLookup.decoy_dn``), so the answer's
        timing does not tell who has an account.
        """
        check_login(login, password)
        name = self.login_name(login)
        if self.settings.uses_search:
            entry = self._service.run(lambda c: self._find_or_none(c, name))
            if entry is None:
                self._decoy_bind(name, password, guard)
                raise InvalidCredentials(
                    f"no entry matches {name.name!r}", reason=reasons.UNKNOWN_USER
                )
            lockout = self._policies.for_entry(entry.policy)
            self._binder.connect_guarded(
                entry.dn, password, guard, account_key(entry.dn), lockout, found=True
            ).close()
            return self._service.run(lambda c: self._resolve(c, entry))
        user_dn = self._users.template_dn(name.name)
        # Direct bind reads no entry before the bind: the strictest policy stands in for
        # the entry's own.
        user_connection = self._binder.connect_guarded(
            user_dn, password, guard, account_key(user_dn), self._policies.strictest()
        )
        try:
            return self._resolve_on(user_connection, user_dn)
        except StaleConnection as exc:
            raise DirectoryUnavailable(f"LDAP connection lost: {exc}") from None
        finally:
            user_connection.close()

    def _find_or_none(self, connection: LdapConnection, name: LoginName) -> UserEntry | None:
        """The entry ``name`` logs in as; None if no entry matches."""
        try:
            return self._users.find(connection, name)
        except InvalidCredentials as refusal:
            if refusal.reason != "unknown_user":
                raise
            return None

    def _decoy_bind(self, name: LoginName, password: str, guard: BindGuard | None) -> None:
        """The slot and bind a wrong password would cost, at a DN that names no entry."""
        lockout = self._policies.for_entry(None)
        try:
            self._binder.connect_guarded(
                self._users.decoy_dn, password, guard, unknown_name_key(name.name), lockout
            ).close()
        except InvalidCredentials as refusal:
            if refusal.reason == THROTTLED:
                raise
            # Refused, as expected: the caller answers "unknown user".

    def _resolve_on(self, connection: LdapConnection, user_dn: str) -> DirectoryUser:
        """Direct bind: the user reads their own entry and groups."""
        return self._resolve(connection, self._users.read(connection, user_dn))

    def _resolve(self, connection: LdapConnection, entry: UserEntry) -> DirectoryUser:
        """The user with groups and the account state the entry showed."""
        user = self._groups.resolve(connection, entry)
        return dataclasses.replace(user, account=entry.account)

    def lookup(self, login: str) -> DirectoryUser | None:
        """The user and groups without a password (service account); None if unknown.

        Also what revalidation reads: the result carries the account's state.
        """
        if not login or len(login) > MAX_USERNAME_LENGTH:
            return None
        try:
            name = self.login_name(login)
        except InvalidCredentials:
            return None

        def work(connection: LdapConnection) -> DirectoryUser | None:
            try:
                entry = self._users.look_up(connection, name)
            except InvalidCredentials:
                return None
            return self._resolve(connection, entry)

        return self._service.run(work)

    def lookup_many(self, usernames: list[str]) -> dict[str, DirectoryUser | None]:
        """``lookup`` for several canonical usernames, batched (revalidation).

        With search-then-bind: one user search and one search per nesting level for all
        of them (``UserLookup.find_many``, ``resolve_many``) instead of two or more
        searches per user; names the batch does not settle are looked up one by one.
        """
        batched = [
            name
            for name in usernames
            if self.settings.uses_search
            and name
            and len(name) <= MAX_USERNAME_LENGTH
            and not has_domain_part(name)
        ]
        result: dict[str, DirectoryUser | None] = {}
        if len(batched) > 1:

            def work(connection: LdapConnection) -> dict[str, DirectoryUser | None]:
                entries = self._users.find_many(connection, batched)
                settled: dict[str, DirectoryUser | None] = {
                    name: None for name, entry in entries.items() if entry is None
                }
                found = [(name, entry) for name, entry in entries.items() if entry is not None]
                users = self._groups.resolve_many(connection, [entry for _, entry in found])
                for (name, entry), user in zip(found, users, strict=True):
                    settled[name] = dataclasses.replace(user, account=entry.account)
                return settled

            result.update(self._service.run(work))
        for name in usernames:
            if name not in result:
                result[name] = self.lookup(name)
        return result

    def login_name(self, login: str) -> LoginName:
        """What to look up for a typed login (``login_names``: DOMAIN\\user, UPNs)."""
        names = self.domain_names() if has_domain_part(login) else DomainNames()
        return resolve(login, names, self._login_domains)

    # -- the domain --------------------------------------------------------
    def domain_names(self) -> DomainNames:
        """Active Directory's own NetBIOS name, DNS realm and UPN suffixes; read once."""
        return self._domain.names()

    def spn_accounts(self, spn: str) -> list[SpnAccount] | None:
        """Accounts holding ``spn``, with their key version; None: not Active Directory."""
        return self._service.run(lambda connection: read_spn_accounts(connection, spn))

    # -- group look-ups (mappings) ----------------------------------------
    def read_group(self, group_dn: str) -> DirectoryGroup | None:
        """The entry at ``group_dn``; None if none, ``is_group`` false if not a group."""
        return self._group_lookup.at_dn(group_dn)

    def find_group_by_uuid(self, group_uuid: str) -> DirectoryGroup | None:
        """Where a group is now, by its stable id (follows renames and moves)."""
        return self._group_lookup.by_uuid(group_uuid)

    def search_groups(self, text: str, limit: int = 25) -> list[DirectoryGroup]:
        """Groups whose name contains ``text`` (escaped), for choosing one in a form."""
        return self._group_lookup.matching(text, limit)

    def group_members(self, group_dn: str, limit: int = DEFAULT_LIMIT) -> MemberList:
        """The people of a group, direct and nested: the first ``limit`` and a count."""
        return self._group_members.of(group_dn, limit)

    # -- health ----------------------------------------------------------
    def server_status(self) -> list[dict]:
        """Try every server (anonymous open, no bind); report reachability and latency."""
        return self._servers.status()

    def check_service_bind(self) -> None:
        """Bind as the service account (raises DirectoryUnavailable/InvalidCredentials)."""
        self._service.check_bind()

    def group_cache_status(self) -> dict | None:
        """The remembered group entries' counts; None when none are remembered."""
        return self.group_entries.status() if self.group_entries is not None else None

    def operation_counts(self) -> dict:
        """Every bind and search sent so far (the status page)."""
        return self.operations.snapshot()

    def forget_groups(self) -> None:
        """Forget the remembered group entries (a cache flush)."""
        if self.group_entries is not None:
            self.group_entries.clear()

    def close(self) -> None:
        """Close the pooled service connections (new ones are opened on demand)."""
        self._service.close()
