"""Facts about the domain read from the DC: its login names.

They start at the rootDSE (the entry with the empty DN), which names the domain and
configuration naming contexts. A directory without them (OpenLDAP) yields empty names.
The domain's lockout policy is read with the other directories' ones
(``lockout_policies``).
"""

from __future__ import annotations

import logging
from typing import Any

import ldap3

from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.connection import LdapConnection
from mlflow_ldap_auth.ldap.dn import filter_value
from mlflow_ldap_auth.ldap.entries import all_values, attributes_of, first
from mlflow_ldap_auth.ldap.login_names import DomainNames
from mlflow_ldap_auth.ldap.service_account import ServiceConnections

_logger = logging.getLogger(__name__)


class DomainFacts:
    """Reads the domain's names (once) on service connections."""

    def __init__(self, service: ServiceConnections) -> None:
        self._service = service
        self._names: DomainNames | None = None

    def names(self) -> DomainNames:
        """Active Directory's own NetBIOS name, DNS realm and UPN suffixes; read once.

        From the rootDSE's naming contexts, the domain's ``crossRef`` under
        ``CN=Partitions`` (``nETBIOSName``, ``dnsRoot``) and that container's
        ``uPNSuffixes``. Empty for a directory that has none of these (OpenLDAP).
        """
        if self._names is None:
            self._names = self._service.run(read_domain_names)
            if self._names.is_active_directory:
                _logger.info(
                    "Active Directory names for DOMAIN\\user and UPN logins: %s",
                    sorted(self._names.netbios | self._names.realms),
                )
        return self._names


def read_domain_names(connection: LdapConnection) -> DomainNames:
    root = root_dse(connection, ["defaultNamingContext", "configurationNamingContext"])
    domain_nc = first(root.get("defaultNamingContext"))
    config_nc = first(root.get("configurationNamingContext"))
    if not domain_nc or not config_nc:
        return DomainNames()
    partitions = f"CN=Partitions,{config_nc}"
    # RFC 4515: the naming context is a value in the filter, escaped.
    refs = connection.search(
        partitions,
        f"(&(objectClass=crossRef)(nCName={filter_value(str(domain_nc))}))",
        ldap3.LEVEL,
        ["nETBIOSName", "dnsRoot"],
    )
    container = connection.search(partitions, "(objectClass=*)", ldap3.BASE, ["uPNSuffixes"])
    netbios: set[str] = set()
    realms: set[str] = set()
    for ref in refs:
        ref_attributes = attributes_of(ref)
        netbios.update(str(v).casefold() for v in all_values(ref_attributes.get("nETBIOSName")))
        realms.update(str(v).casefold() for v in all_values(ref_attributes.get("dnsRoot")))
    for entry in container:
        suffixes = attributes_of(entry).get("uPNSuffixes")
        realms.update(str(v).casefold() for v in all_values(suffixes))
    return DomainNames(frozenset(netbios), frozenset(realms))


def root_dse(connection: LdapConnection, attributes: list[str]) -> dict:
    """Attributes of the rootDSE; empty if the server will not show them."""
    try:
        entries = connection.search("", "(objectClass=*)", ldap3.BASE, attributes)
    except DirectoryUnavailable as exc:
        if exc.reason != "search_error":
            raise
        return {}
    return attributes_of(entries[0]) if entries else {}


def ad_interval_seconds(value: Any) -> int | None:
    """AD time intervals are negative counts of 100 ns (``-6000000000`` = 10 minutes)."""
    try:
        return abs(int(value)) // 10_000_000 if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
