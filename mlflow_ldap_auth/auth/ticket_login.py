"""Kerberos logins: a ticket's client principal -> the directory user, admitted as a
password login is (docs/kerberos.md#how-a-request-is-signed-in).

The KDC vouched for the *principal* (``alice@CORP.EXAMPLE.COM``), not for the account
as it is now: a ticket stays valid for hours after the account is disabled. So a ticket
login reads the entry with the service account (``Directory.lookup``: the user search
of a password login, with its account-state attributes, and the groups), refuses an
account a bind would refuse, and then takes the password login's own tail
(``LoginService.admit_directory_user``: the break-glass name, ``allowed_groups``, admin
flag, provisioning, role sync, revalidation, the ``login`` line with ``"method":
"negotiate"``, the metric).

Identity (``ticket_login_name``): the realm is compared with the directory's own names
learned from the DC (its DNS realm and UPN suffixes, case-folded: a Kerberos realm is
the upper-case DNS name) and ``login_domains``; any other realm is ``foreign_realm``
and nothing is searched. In the directory's realm the principal is looked up as the AD
login forms are (``login_names``): ``sAMAccountName`` = the name, or the whole principal
as ``userPrincipalName``.

Cached like a password: the answer sits in the login service's credential cache under
the principal (a key no typed login can take: it starts with a NUL) for
``cache_ttl_seconds``, refusals in its negative cache. So a warm ticket costs the accept
and a dictionary look-up, no directory round trip; and revalidation, which follows every
directory user that cache remembers, evicts the entry of an account disabled, locked,
removed or moved out of ``allowed_groups`` within ``revalidate_interval_seconds``: the
same bound as a cached password's.
"""

from __future__ import annotations

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.login import NEGOTIATE_METHOD, LoginService
from mlflow_ldap_auth.auth.names import name_key
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import InvalidCredentials, NotAllowed
from mlflow_ldap_auth.ldap import account_state
from mlflow_ldap_auth.ldap.entries import DirectoryUser
from mlflow_ldap_auth.ldap.login_names import DomainNames

#: The credential cache's key of a ticket login: a NUL cannot be typed into a login.
_KEY_PREFIX = "\0negotiate\0"
#: The "password" of a ticket login's cache entry: the accept already proved the
#: ticket, so the principal alone is the key.
_TICKET = "\0ticket"
#: A bind of such an account answers with these reasons (AD's sub-codes 533, 775, 701);
#: a ticket gets the same ones.
STATE_REASONS = {
    account_state.DISABLED: reasons.ACCOUNT_DISABLED,
    account_state.LOCKED: reasons.ACCOUNT_LOCKED,
    account_state.EXPIRED: reasons.ACCOUNT_EXPIRED,
}
#: AD's ``pwdLastSet`` of an account whose password must be changed at the next logon.
MUST_CHANGE_MARKER = "0"


def ticket_login_name(
    client_principal: str, names: DomainNames, login_domains: frozenset[str]
) -> str:
    """What to look up for a ticket's ``name@REALM``; ``InvalidCredentials`` otherwise.

    Active Directory: the principal itself (``login_names.resolve`` reads it as a UPN
    of the domain); any other directory: the name, for a realm named in
    ``login_domains``."""
    name, at, realm = client_principal.rpartition("@")
    if not at or not name or not realm:
        raise InvalidCredentials(
            "a ticket's client principal without a realm", reason=reasons.MALFORMED_NEGOTIATE
        )
    folded = realm.casefold()
    if folded in names.realms:
        return client_principal
    if folded in login_domains:
        return name
    raise InvalidCredentials(
        f"realm {realm!r} is not this directory's", reason=reasons.FOREIGN_REALM
    )


def refuse_unusable(user: DirectoryUser) -> None:
    """``InvalidCredentials`` with the reason a bind would give for an account the
    directory says may not be used (disabled, locked, expired, must change password)."""
    state = user.account
    if not state.usable:
        raise InvalidCredentials(
            f"{user.dn}: account {state.status}",
            reason=STATE_REASONS.get(state.status, reasons.INVALID_CREDENTIALS),
        )
    if state.password_marker == MUST_CHANGE_MARKER:
        raise InvalidCredentials(
            f"{user.dn}: password must change", reason=reasons.MUST_CHANGE_PASSWORD
        )


class TicketLogins:
    """A ticket's client principal -> ``Principal``, through the login service."""

    def __init__(self, login_service: LoginService) -> None:
        self._service = login_service
        self._login_domains = frozenset(
            domain.casefold() for domain in login_service.settings.ldap.login_domains
        )

    def login(self, client_principal: str, source: str | None) -> Principal:
        """Who the ticket's ``client_principal`` logs in as (cached; see the module)."""
        return self._service.cache.get_or_check(
            _KEY_PREFIX + client_principal,
            _TICKET,
            lambda _key, _ticket: self._check(client_principal, source),
        )

    def peek(self, client_principal: str) -> Principal | None:
        """The remembered answer for ``client_principal``, or None (no I/O)."""
        return self._service.cache.peek(_KEY_PREFIX + client_principal, _TICKET)

    def _check(self, client_principal: str, source: str | None) -> Principal:
        directory = self._service.directory
        login = ticket_login_name(client_principal, directory.domain_names(), self._login_domains)
        name = client_principal.rpartition("@")[0]
        if self._service.is_local_admin_name(name) or name_key(login) == name_key(
            self._service.settings.mlflow.admin_username
        ):
            raise NotAllowed(
                "a ticket of the break-glass admin's name", reason=reasons.LOCAL_ADMIN_NAME
            )
        user = directory.lookup(login)
        if user is None:
            raise InvalidCredentials(
                f"no entry matches {client_principal!r}", reason=reasons.UNKNOWN_USER
            )
        refuse_unusable(user)
        return self._service.admit_directory_user(
            user,
            source,
            NEGOTIATE_METHOD,
            reasons.KERBEROS_TICKET,
            principal_method=NEGOTIATE_METHOD,
            login=client_principal,
        )
