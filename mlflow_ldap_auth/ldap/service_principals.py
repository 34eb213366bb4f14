"""The accounts that hold a service principal name, and their key version number.

A ticket for ``HTTP/host`` is encrypted with the current key of the one account whose
``servicePrincipalName`` holds it, and the number of that key is the account's
``msDS-KeyVersionNumber`` (constructed by Active Directory, absent elsewhere). A keytab
without a key of that number refuses every ticket ("kvno N not found in keytab"): what
``check`` compares. The attribute may be hidden from the service account; then the
account is still found, with no key version.
"""

from __future__ import annotations

from dataclasses import dataclass

import ldap3

from mlflow_ldap_auth.ldap.connection import LdapConnection
from mlflow_ldap_auth.ldap.dn import filter_value
from mlflow_ldap_auth.ldap.domain import root_dse
from mlflow_ldap_auth.ldap.entries import attributes_of, first


@dataclass(frozen=True)
class SpnAccount:
    """An account holding the SPN: its DN, its name and its key version (None: not shown)."""

    dn: str
    account_name: str | None
    key_version: int | None


def read_spn_accounts(connection: LdapConnection, spn: str) -> list[SpnAccount] | None:
    """The accounts of the domain whose ``servicePrincipalName`` is ``spn``
    (``HTTP/mlflow.corp.example.com``, no realm); None for a directory that is not
    Active Directory (no ``defaultNamingContext``)."""
    domain_nc = first(root_dse(connection, ["defaultNamingContext"]).get("defaultNamingContext"))
    if not domain_nc:
        return None
    entries = connection.search(
        str(domain_nc),
        f"(servicePrincipalName={filter_value(spn)})",
        ldap3.SUBTREE,
        ["sAMAccountName", "msDS-KeyVersionNumber"],
    )
    accounts = []
    for entry in entries:
        attributes = attributes_of(entry)
        name = first(attributes.get("sAMAccountName"))
        accounts.append(
            SpnAccount(
                dn=str(entry.get("dn")),
                account_name=str(name) if name else None,
                key_version=_number(first(attributes.get("msDS-KeyVersionNumber"))),
            )
        )
    return accounts


def _number(value: object) -> int | None:
    if value in (None, "", b""):
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
