"""What the directory says about people and groups, and reading values from ldap3 entries.

An *entry* here is one ``searchResEntry`` of an ldap3 response: a dict with ``dn``,
``attributes`` (decoded values) and ``raw_attributes`` (bytes).

Naming: ``user_dn`` is a DN, ``group_dns`` a frozenset of DNs as the server spelled them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from mlflow_ldap_auth.ldap.account_state import USABLE, AccountState
from mlflow_ldap_auth.ldap.dn import DnKey, dn_key_or_raw

#: The stable id of an entry: OpenLDAP's entryUUID, Active Directory's objectGUID.
UUID_ATTRIBUTES = ["entryUUID", "objectGUID"]
#: What a group look-up reads besides the group's name.
GROUP_ATTRIBUTES = ["objectClass", *UUID_ATTRIBUTES]


@dataclass(frozen=True)
class DirectoryUser:
    """What the directory says about one person."""

    dn: str
    username: str
    direct_group_dns: frozenset[str] = frozenset()
    group_dns: frozenset[str] = frozenset()
    #: For every nested group, the group through which it was reached (child DN).
    group_parents: tuple[tuple[str, str], ...] = ()
    #: Stable identifier of each group (entryUUID / objectGUID), by group DN.
    group_uuids: tuple[tuple[str, str], ...] = ()
    #: Disabled / locked / password marker, as the entry said when it was read.
    account: AccountState = USABLE

    @property
    def uuid_by_group_dn(self) -> dict[str, str]:
        return dict(self.group_uuids)

    @property
    def groups(self) -> tuple[tuple[DnKey, str | None], ...]:
        """(structural DN key, stable id or None) of every group, for access decisions."""
        uuids = self.uuid_by_group_dn
        return tuple((dn_key_or_raw(dn), uuids.get(dn)) for dn in self.group_dns)


@dataclass(frozen=True)
class DirectoryGroup:
    dn: str
    uuid: str | None
    name: str | None
    #: Has a group object class and lies under group_search_base
    #: (docs/configuration.md#rules-between-keys).
    is_group: bool = True


class UserEntry(NamedTuple):
    """A user's entry as found, before its groups are resolved."""

    dn: str
    username: str
    #: The entry's memberOf values (DN keys); non-empty means the directory
    #: maintains memberOf (OpenLDAP overlay, Active Directory).
    memberof: frozenset[DnKey]
    account: AccountState = USABLE
    #: The password policy the entry names (ppolicy ``pwdPolicySubentry``, AD
    #: ``msDS-ResultantPSO``); None: the directory's default one.
    policy: str | None = None


def attributes_of(entry: dict) -> dict[str, Any]:
    """The decoded attributes of an entry (empty when the server sent none)."""
    return entry.get("attributes") or {}


def first(value: Any) -> Any:
    """The first of a multi-valued attribute's values (or the value itself)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def all_values(value: Any) -> list:
    """Every value of an attribute, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def group_uuid(entry: dict) -> str | None:
    """The entry's stable id: OpenLDAP ``entryUUID`` or AD ``objectGUID`` (as a GUID string).

    ``objectGUID`` is 16 bytes in Microsoft's GUID layout (the first three fields
    little-endian), hence ``bytes_le``; AD tools print it in that form too.
    """
    value = first(attributes_of(entry).get("entryUUID"))
    if value:
        return str(value).lower()
    raw = (entry.get("raw_attributes") or {}).get("objectGUID")
    if raw:
        data = raw[0] if isinstance(raw, list) else raw
        if isinstance(data, bytes) and len(data) == 16:
            return str(uuid.UUID(bytes_le=data))
    return None
