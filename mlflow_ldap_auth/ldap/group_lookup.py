"""Groups looked up for mappings: at a DN, by stable id, or by part of their name."""

from __future__ import annotations

import uuid

import ldap3

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.ldap.connection import LdapConnection, wire_dn
from mlflow_ldap_auth.ldap.dn import InvalidDn, canonical_dn, dn_key_or_raw, filter_value, is_under
from mlflow_ldap_auth.ldap.entries import (
    GROUP_ATTRIBUTES,
    DirectoryGroup,
    attributes_of,
    first,
    group_uuid,
)
from mlflow_ldap_auth.ldap.service_account import ServiceConnections

#: Object classes that make an entry a group (docs/configuration.md#rules-between-keys).
GROUP_OBJECT_CLASSES = frozenset({"groupofnames", "groupofuniquenames", "posixgroup", "group"})
_GROUP_CLASS_FILTER = (
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))"
)


class GroupLookup:
    """Reads group entries on service connections, for the mappings and their forms."""

    def __init__(self, settings: LdapSettings, service: ServiceConnections) -> None:
        self._service = service
        self._base = wire_dn(settings.group_search_base)
        self._base_key = dn_key_or_raw(self._base) if self._base else None
        self._name_attribute = settings.group_name_attribute
        self._attributes = [settings.group_name_attribute, *GROUP_ATTRIBUTES]

    def at_dn(self, group_dn: str) -> DirectoryGroup | None:
        """The entry at ``group_dn`` (current DN, stable id, name, whether it is a group).

        None if there is no entry there; an entry that is not a group comes back with
        ``is_group`` false, so callers can say so instead of "not found".
        """
        try:
            base = canonical_dn(group_dn)
        except InvalidDn:
            return None  # callers validate DNs; a string that is none names no entry
        return self._first_group(base, "(objectClass=*)", ldap3.BASE)

    def by_uuid(self, group_uuid: str) -> DirectoryGroup | None:
        """Where a group is now, by its stable id (follows renames and moves)."""
        if self._base is None:
            return None
        try:
            guid_bytes = uuid.UUID(group_uuid).bytes_le
        except ValueError:
            return None
        # entryUUID (OpenLDAP) or objectGUID (AD, matched on its raw bytes).
        # RFC 4515: the id is escaped as a string value, the GUID byte by byte.
        guid_filter = "".join(f"\\{byte:02x}" for byte in guid_bytes)
        search_filter = f"(|(entryUUID={filter_value(group_uuid)})(objectGUID={guid_filter}))"
        return self._first_group(self._base, search_filter, ldap3.SUBTREE)

    def matching(self, text: str, limit: int = 25) -> list[DirectoryGroup]:
        """Groups whose name contains ``text``, for choosing one in a form."""
        base = self._base
        if base is None:
            return []
        # RFC 4515: the typed text is escaped, so its * ( ) are no wildcards or syntax.
        search_filter = f"(&{_GROUP_CLASS_FILTER}({self._name_attribute}=*{filter_value(text)}*))"

        def work(connection: LdapConnection) -> list[DirectoryGroup]:
            entries = connection.search(base, search_filter, ldap3.SUBTREE, self._attributes)
            return [self._group_of(entry) for entry in entries[:limit]]

        return self._service.run(work)

    def _first_group(self, base: str, search_filter: str, scope: str) -> DirectoryGroup | None:
        def work(connection: LdapConnection) -> DirectoryGroup | None:
            entries = connection.search(base, search_filter, scope, self._attributes)
            return self._group_of(entries[0]) if entries else None

        return self._service.run(work)

    def _group_of(self, entry: dict) -> DirectoryGroup:
        attributes = attributes_of(entry)
        classes = {str(value).casefold() for value in attributes.get("objectClass") or []}
        under_base = self._base_key is not None and is_under(
            dn_key_or_raw(entry["dn"]), self._base_key
        )
        return DirectoryGroup(
            dn=entry["dn"],
            uuid=group_uuid(entry),
            name=first(attributes.get(self._name_attribute)),
            is_group=bool(classes & GROUP_OBJECT_CLASSES) and under_base,
        )
