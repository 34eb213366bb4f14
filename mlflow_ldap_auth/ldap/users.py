"""Finding a user's entry: by search (search-then-bind) or at a DN from the template.

The same search also reads the account's state (``account_state``: disabled, locked,
password marker) and the password policy the entry names (``lockout_policies``), so
checking an account costs no extra search.

``decoy_dn`` names an entry that cannot exist: a login name no entry matches is bound
there with its password, so it costs what a wrong password costs and cannot be told
apart by its timing.
"""

from __future__ import annotations

import secrets

import ldap3

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap.account_state import STATE_ATTRIBUTES, account_state
from mlflow_ldap_auth.ldap.connection import LdapConnection, wire_dn
from mlflow_ldap_auth.ldap.dn import dn_key_or_raw, filter_value, rdn_value
from mlflow_ldap_auth.ldap.entries import UserEntry, attributes_of, first
from mlflow_ldap_auth.ldap.lockout_policies import USER_POLICY_ATTRIBUTES
from mlflow_ldap_auth.ldap.login_names import LoginName


class UserLookup:
    """Reads user entries (username attribute, memberOf) on a given connection."""

    def __init__(self, settings: LdapSettings) -> None:
        self._uses_search = settings.uses_search
        self._base = wire_dn(settings.user_search_base)
        self._filter = settings.user_search_filter
        self._dn_template = settings.user_dn_template
        self._username_attribute = settings.username_attribute
        self._attributes = [
            settings.username_attribute,
            "memberOf",
            *STATE_ATTRIBUTES,
            *USER_POLICY_ATTRIBUTES,
        ]
        # Random per process: nobody can have created it beforehand.
        decoy = f"cn=mlflow-ldap-auth-no-such-entry-{secrets.token_hex(8)}"
        self.decoy_dn = f"{decoy},{self._base}" if self._base else decoy

    def template_dn(self, login: str) -> str:
        """The user's DN from ``user_dn_template`` (direct bind)."""
        # Direct bind only, where the configuration requires user_dn_template.
        assert self._dn_template is not None
        # RFC 4514: the login is escaped before it enters the DN.
        return self._dn_template.format(username=rdn_value(login))

    def look_up(self, connection: LdapConnection, name: LoginName) -> UserEntry:
        """The entry for ``name`` the configured way (search, or read at the template DN)."""
        if self._uses_search:
            return self.find(connection, name)
        return self.read(connection, self.template_dn(name.name))

    def find(self, connection: LdapConnection, name: LoginName) -> UserEntry:
        """The one entry that ``user_search_filter`` (or the UPN) matches."""
        login = name.name
        # Search-then-bind only, where the configuration requires user_search_base.
        assert self._base is not None
        # RFC 4515: the login is escaped before it enters the filter.
        search_filter = self._filter.format(username=filter_value(login))
        if name.upn:
            # RFC 4515: so is the UPN.
            upn = f"(&(objectClass=user)(userPrincipalName={filter_value(name.upn)}))"
            search_filter = f"(|{search_filter}{upn})"
        entries = connection.search(self._base, search_filter, ldap3.SUBTREE, self._attributes)
        if not entries:
            raise InvalidCredentials(
                f"no entry matches {search_filter}", reason=reasons.UNKNOWN_USER
            )
        if len(entries) > 1:
            raise InvalidCredentials(
                f"{len(entries)} entries match {search_filter}", reason=reasons.AMBIGUOUS_USER
            )
        return self._user_entry(entries[0], login)

    def find_many(
        self, connection: LdapConnection, usernames: list[str]
    ) -> dict[str, UserEntry | None]:
        """Several users by canonical name in one search (revalidation).

        Each entry found is given to the name its username attribute carries (compared
        case-insensitively); a name matched by two entries maps to None (ambiguous, as
        ``find`` refuses it). Names absent from the answer are absent from the result:
        the caller looks them up one by one.
        """
        # Search-then-bind only (Directory.lookup_many), which requires user_search_base.
        assert self._base is not None
        # RFC 4515: every name is escaped before it enters the filter.
        terms = "".join(self._filter.format(username=filter_value(name)) for name in usernames)
        search_filter = f"(|{terms})" if len(usernames) > 1 else terms
        entries = connection.search(self._base, search_filter, ldap3.SUBTREE, self._attributes)
        wanted = {name.casefold(): name for name in usernames}
        found: dict[str, UserEntry | None] = {}
        for entry in entries:
            value = first(attributes_of(entry).get(self._username_attribute))
            name = wanted.get(str(value).casefold()) if value else None
            if name is None:
                continue
            found[name] = None if name in found else self._user_entry(entry, name)
        return found

    def read(self, connection: LdapConnection, user_dn: str) -> UserEntry:
        """The entry at ``user_dn``."""
        entries = connection.search(user_dn, "(objectClass=*)", ldap3.BASE, self._attributes)
        if not entries:
            raise InvalidCredentials(f"no entry at {user_dn}", reason=reasons.UNKNOWN_USER)
        return self._user_entry(entries[0], user_dn)

    def _user_entry(self, entry: dict, login: str) -> UserEntry:
        attributes = attributes_of(entry)
        value = first(attributes.get(self._username_attribute))
        if not value:
            raise InvalidCredentials(
                f"{entry['dn']} has no {self._username_attribute} attribute (login {login!r})",
                reason=reasons.NO_USERNAME_ATTRIBUTE,
            )
        memberof = frozenset(dn_key_or_raw(dn) for dn in attributes.get("memberOf") or [])
        state = account_state(entry.get("raw_attributes") or {})
        policy = first(attributes.get("pwdPolicySubentry")) or first(
            attributes.get("msDS-ResultantPSO")
        )
        return UserEntry(entry["dn"], str(value), memberof, state, str(policy) if policy else None)
