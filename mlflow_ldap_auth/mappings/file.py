"""Mappings as a reviewable JSON file: ``mappings export`` / ``mappings import [--dry-run]``.

File format (``version`` 1)::

    {"version": 1,
     "group_mappings": [
       {"group": "cn=data-science,ou=groups,dc=example,dc=org",
        "group_uuid": "a43bf8a0-7fd9-1041-98d9-a3ffdc04979c",   # optional
        "resource_type": "experiment", "resource_pattern": "42",
        "permission": "EDIT", "workspace": "default"}]}

Import makes the database hold exactly the file's mappings (declarative, so running
it twice changes nothing the second time): it validates every entry and resolves
every group in the directory (by ``group_uuid`` when given, else by DN) *before*
writing anything, then removes what the file lacks and adds what it has.
"""

from __future__ import annotations

import json

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE, Mapping
from mlflow_ldap_auth.errors import DomainError
from mlflow_ldap_auth.mappings.service import MappingService, validate_fields
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

FORMAT_VERSION = 1
FIELDS = ("group", "group_uuid", "resource_type", "resource_pattern", "permission", "workspace")


class MappingsFileError(Exception):
    pass


def export_document(mappings: list[Mapping]) -> dict:
    return {
        "version": FORMAT_VERSION,
        "group_mappings": [
            {
                "group": m.group,
                "group_uuid": m.group_uuid,
                "resource_type": m.resource_type,
                "resource_pattern": m.resource_pattern,
                "permission": m.permission,
                "workspace": m.workspace,
            }
            for m in sorted(mappings, key=lambda m: (m.group.lower(), m.key))
        ],
    }


def describe(mapping: Mapping) -> str:
    """One reviewable line for a mapping (the diff that import prints)."""
    return (
        f"{mapping.group}: {mapping.permission} on {mapping.resource_type} "
        f"{mapping.resource_pattern!r} in workspace {mapping.workspace!r}"
    )


def read_document(text: str, service: MappingService) -> list[Mapping]:
    """Parse, validate and resolve every entry; raise one error listing all problems."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingsFileError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise MappingsFileError(f'expected an object with "version": {FORMAT_VERSION}')
    entries = document.get("group_mappings")
    if not isinstance(entries, list):
        raise MappingsFileError('"group_mappings" must be a list')
    problems, wanted = [], []
    for index, entry in enumerate(entries):
        where = f"group_mappings[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        unknown = set(entry) - set(FIELDS)
        if unknown:
            problems.append(f"{where}: unknown field(s) {sorted(unknown)}")
            continue
        try:
            group, resource_type, pattern, permission, workspace = validate_fields(
                entry.get("group"),
                entry.get("resource_type"),
                entry.get("resource_pattern", "*"),
                entry.get("permission"),
                entry.get("workspace", DEFAULT_WORKSPACE),
            )
        except Exception as exc:  # noqa: BLE001 - InvalidRequest, MlflowException: reported
            problems.append(f"{where}: {getattr(exc, 'message', exc)}")
            continue
        group_uuid = entry.get("group_uuid")
        if group_uuid is not None and not isinstance(group_uuid, str):
            problems.append(f"{where}: 'group_uuid' must be a string")
            continue
        try:
            found = service.find_group(group, group_uuid)
        except DomainError as exc:
            problems.append(f"{where}: {exc.message}")
            continue
        assert found.uuid is not None  # find_group refuses a group without one
        # Not stored yet, so no id; compared with stored mappings by ``Mapping.key``.
        wanted.append(
            Mapping(
                "", found.dn, found.uuid, found.name, resource_type, pattern, permission, workspace
            )
        )
    if problems:
        raise MappingsFileError("; ".join(problems))
    return wanted


def plan_import(
    wanted: list[Mapping], existing: list[Mapping]
) -> tuple[list[Mapping], list[Mapping]]:
    """(to add, to remove) so that the database ends up holding exactly ``wanted``."""
    wanted_keys = {w.key for w in wanted}
    existing_keys = {m.key for m in existing}
    to_add = sorted(
        {w.key: w for w in wanted if w.key not in existing_keys}.values(), key=lambda w: w.key
    )
    to_remove = [m for m in existing if m.key not in wanted_keys]
    return to_add, to_remove


def apply_import(
    service: MappingService, to_add: list[Mapping], to_remove: list[Mapping], actor: str
) -> None:
    for mapping in to_remove:  # first: a changed permission is a remove plus an add
        service.delete(mapping.id, actor=actor)
    for item in to_add:
        service.create(
            group=item.group,
            group_uuid=item.group_uuid,
            resource_type=item.resource_type,
            resource_pattern=item.resource_pattern,
            permission=item.permission,
            workspace=item.workspace
            if item.resource_type != ADMIN_RESOURCE_TYPE
            else DEFAULT_WORKSPACE,
            actor=actor,
        )
