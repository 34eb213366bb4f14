"""``mappings export`` prints the group mappings as JSON; ``mappings import FILE
[--dry-run]`` makes the database hold exactly the file's mappings (see
``mappings_file``) and prints, before it changes anything, who gains or loses which
permission (the admin page's preview). Both work on the database at
``[mlflow] database_uri`` directly; running servers pick a change up at each user's next
fresh bind.

Changes made here are kept in the activity table like a server's
(docs/operations.md#activity), besides the JSON audit lines on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth import wiring
from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE as ADMIN_TYPE
from mlflow_ldap_auth.cli.common import operator_name, recorded, settings_or_none
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.errors import AuthError, DomainError
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.mappings import file as mappings_file
from mlflow_ldap_auth.mappings.store import GroupStore
from mlflow_ldap_auth.mlflow_compat.bridge import import_mlflow_auth


def _mapping_service(settings: Settings):
    """The mapping service on the database, MLflow's tables and ours created if missing."""
    auth = import_mlflow_auth(settings)
    auth.store.init_db(settings.mlflow.database_uri)
    groups = GroupStore(settings.mlflow.database_uri)
    groups.migrate()
    return wiring.mapping_service(auth.store, groups, Directory(settings.ldap))


def run(args: argparse.Namespace) -> int:
    settings = settings_or_none(args)
    if settings is None:
        return 2
    service = _mapping_service(settings)

    try:
        if args.action == "export":
            document = mappings_file.export_document(service.list())
            json.dump(document, sys.stdout, indent=2)
            print()
            return 0
        with open(args.file, encoding="utf-8") as handle:
            wanted = mappings_file.read_document(handle.read(), service)
        existing = service.list()  # one read of the mappings: the plan and the preview
        to_add, to_remove = mappings_file.plan_import(wanted, existing)
        for mapping in to_remove:
            print(f"- {mappings_file.describe(mapping)}")
        for mapping in to_add:
            print(f"+ {mappings_file.describe(mapping)}")
        if not to_add and not to_remove:
            print("no changes")
            return 0
        _print_preview(settings, service, existing, to_add, to_remove)
        if args.dry_run:
            print(f"dry run: {len(to_add)} to add, {len(to_remove)} to remove, nothing changed")
            return 0
        with recorded(settings):
            mappings_file.apply_import(service, to_add, to_remove, operator_name())
        print(f"imported: {len(to_add)} added, {len(to_remove)} removed")
        return 0
    except (
        OSError,
        mappings_file.MappingsFileError,
        AuthError,
        DomainError,
        MlflowException,
    ) as exc:
        print(f"mappings {args.action} failed: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1


def _print_preview(settings: Settings, service, existing, to_add, to_remove) -> None:
    """Who gains or loses what, per resource the import touches (as the admin page shows)."""
    policy = wiring.access_policy(settings, service.directory, service.groups)
    access = wiring.who_has_access(settings, service.store, service, policy, names=None)
    removed = {m.key for m in to_remove}
    after = [m for m in existing if m.key not in removed] + list(to_add)
    print("who gains or loses what:")
    for preview in access.preview(existing, after, [*to_remove, *to_add]):
        for line in preview_lines(preview):
            print("  " + line)


def preview_lines(preview) -> list[str]:
    """A preview as lines: the resource and member count, then one line per person."""
    if preview.resource_type == ADMIN_TYPE:
        head, absent = "MLflow admin", "not an admin"
    else:
        head = (
            f"{preview.resource_type} {preview.resource_pattern} in workspace {preview.workspace}"
        )
        absent = f"{preview.everyone_else} (no route)"
    people = "person" if preview.member_count == 1 else "people"
    lines = [f"{head}: {preview.member_count} {people} in the changed groups"]
    for change in preview.changes:
        direction = "gains" if change.gain else "loses"
        before, after = change.before or absent, change.after or absent
        lines.append(f"  {change.user}: {before} -> {after} ({direction})")
    if not preview.changes:
        lines.append("  nobody's permission changes")
    return lines
