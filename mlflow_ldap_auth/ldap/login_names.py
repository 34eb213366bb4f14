"""The login forms Windows users type: ``CORP\\alice``, ``alice@corp.example.com``.

Active Directory knows its own names: the domain's NetBIOS name (``CORP``) and DNS
realm (``corp.example.com``), and the forest's extra UPN suffixes (``uPNSuffixes``).
The directory reads them from the DC once (``Directory.domain_names``); with them a
plain ``(sAMAccountName={username})`` filter accepts every form as the same person:

* ``DOMAIN\\name``: DOMAIN is this domain's NetBIOS name or one of ``login_domains``
  -> ``name``; any other domain (in a forest, ``EMEA\\alice`` is someone else) -> 401;
* ``name@realm``: realm is this domain's DNS realm or a UPN suffix (any case) ->
  ``name``, and the full UPN is also searched as ``userPrincipalName`` (a UPN prefix
  need not be the sAMAccountName); any other realm -> 401.

Against a directory that is not AD (no names learned) only ``login_domains`` is
applied and everything else is searched as typed (``alice@example.org`` may be a uid).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import InvalidCredentials


@dataclass(frozen=True)
class DomainNames:
    """The directory's own names, case-folded (empty when it is not Active Directory)."""

    netbios: frozenset[str] = frozenset()
    realms: frozenset[str] = frozenset()

    @property
    def is_active_directory(self) -> bool:
        return bool(self.netbios or self.realms)


@dataclass(frozen=True)
class LoginName:
    name: str  # what {username} becomes in the filter or DN template
    upn: str | None = None  # user@realm, also matched as userPrincipalName


def has_domain_part(login: str) -> bool:
    return "\\" in login or "@" in login


def resolve(login: str, names: DomainNames, login_domains: frozenset[str]) -> LoginName:
    """The name to look up for ``login``; ``InvalidCredentials`` for a foreign domain."""
    domain, backslash, name = login.partition("\\")
    if backslash and name:
        if domain.casefold() in login_domains or domain.casefold() in names.netbios:
            return LoginName(name)
        if names.is_active_directory:
            raise InvalidCredentials(
                f"domain {domain!r} is not this directory's", reason=reasons.FOREIGN_DOMAIN
            )
        return LoginName(login)
    local, at, realm = login.rpartition("@")
    if at and local and realm and names.is_active_directory:
        if realm.casefold() in names.realms:
            return LoginName(local, upn=login)
        raise InvalidCredentials(
            f"realm {realm!r} is not this directory's", reason=reasons.FOREIGN_REALM
        )
    return LoginName(login)
