"""Command line: ``python -m mlflow_ldap_auth check|mappings ...``.

``check [--user NAME]``: reads the configuration, connects to each server, binds the
service account and optionally looks a user up (groups, admin flag, mappings). Exit
status 0 only when all of that worked; otherwise 1 with a one-line reason on stderr
(2 for a bad configuration).

``mappings export`` prints the group mappings as JSON; ``mappings import FILE
[--dry-run]`` makes the database hold exactly the file's mappings (see
``mappings_file``) and prints, before it changes anything, who gains or loses which
permission (the admin page's preview). Both work on the database at
``[mlflow] database_uri`` directly; running servers pick a change up at each user's next fresh bind.

Changes made here (an import, a revocation) are kept in the activity table like a
server's (docs/operations.md#activity), besides the JSON audit lines on stderr.

``tokens list [--user NAME]`` prints the access tokens (everyone's, or NAME's; never a
secret, which is not stored); ``tokens revoke ID`` revokes one: every worker of every
server on the database refuses it within 10 s. Both work on the database directly, as
the operator who holds the configuration file (audited with actor ``cli:<login>``).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import time

import sqlalchemy as sa
from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE as ADMIN_TYPE
from mlflow_ldap_auth.auth.access_policy import AccessPolicy, ConfiguredGroups
from mlflow_ldap_auth.config import load_settings
from mlflow_ldap_auth.errors import AuthError, ConfigError
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.mappings.store import GroupStore
from mlflow_ldap_auth.mlflow_compat.bridge import import_mlflow_auth
from mlflow_ldap_auth.mlflow_compat.version import UnsupportedMlflow, check_supported


def _settings_or_none(args: argparse.Namespace):
    """The settings, or None after printing the configuration problems."""
    try:
        check_supported()
        return load_settings(args.config, environ=os.environ)
    except (ConfigError, UnsupportedMlflow) as exc:
        print(str(exc), file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    settings = _settings_or_none(args)
    if settings is None:
        return 2
    print(f"config: {settings.path}: ok")
    directory = Directory(settings.ldap)
    failed = []
    for server in directory.server_status():
        if server["reachable"]:
            print(f"server {server['uri']}: reachable ({server['latency_ms']} ms)")
        else:
            print(f"server {server['uri']}: UNREACHABLE: {server['error']}")
            failed.append(f"{server['uri']} unreachable: {server['error']}")
    who = settings.ldap.bind_dn or "anonymous"
    try:
        directory.check_service_bind()
        print(f"service bind as {who}: ok")
    except AuthError as exc:
        print(f"service bind as {who}: FAILED: {exc}")
        failed.append(f"service bind as {who} failed: {exc}")
    if args.user and not failed:
        try:
            user = directory.lookup(args.user)
        except AuthError as exc:
            user = None
            failed.append(f"lookup of {args.user!r} failed: {exc}")
        else:
            if user is None:
                failed.append(f"user {args.user!r} not found in the directory")
        if user is not None:
            print(f"user {args.user!r}: {user.dn}")
            print(f"  mlflow username: {user.username}")
            for dn in sorted(user.direct_group_dns):
                print(f"  group (direct): {dn}")
            for dn in sorted(user.group_dns - user.direct_group_dns):
                print(f"  group (nested): {dn}")
            admin, allowed = _access(settings, directory, user)
            print(f"  admin: {admin}")
            print(f"  allowed: {allowed}")
    directory.close()
    if failed:
        print(f"check failed: {failed[0]}", file=sys.stderr)
        return 1
    print("check: ok")
    return 0


def _access(settings, directory: Directory, user) -> tuple[str, str]:
    """The server's own access decision for ``user``, as two words for the report."""
    ldap = settings.ldap
    policy = AccessPolicy(
        ConfiguredGroups(ldap.admin_group_dns, ldap.allowed_group_dns, directory),
        GroupStore(settings.mlflow.database_uri),
    )
    note = ""
    try:
        mapped = policy.groups.list()
    except sa.exc.SQLAlchemyError:
        mapped, note = [], " (admin mappings not read: the database is not set up yet)"
    decision = policy.decide(user, mapped)
    if decision.is_admin is None:
        admin = "left to MLflow (no admin_groups, no admin mappings)"
    else:
        admin = ("yes" if decision.is_admin else "no") + note
    return admin, "yes" if decision.allowed else "no"


def _mapping_service(settings):
    auth = import_mlflow_auth(settings)
    auth.store.init_db(settings.mlflow.database_uri)
    groups = GroupStore(settings.mlflow.database_uri)
    groups.migrate()
    # Imported after MLflow's auth module is configured: it imports that module.
    from mlflow_ldap_auth.mappings.service import MappingService

    return MappingService(auth.store, groups, Directory(settings.ldap))


def _mappings(args: argparse.Namespace) -> int:
    settings = _settings_or_none(args)
    if settings is None:
        return 2
    service = _mapping_service(settings)
    # mappings_file imports MLflow's auth module, which _mapping_service configured.
    from mlflow_ldap_auth.mappings import file as mappings_file

    try:
        if args.action == "export":
            document = mappings_file.export_document(service.list())
            json.dump(document, sys.stdout, indent=2)
            print()
            return 0
        with open(args.file, encoding="utf-8") as handle:
            wanted = mappings_file.read_document(handle.read(), service)
        to_add, to_remove = mappings_file.plan_import(wanted, service.list())
        for mapping in to_remove:
            print(f"- {mappings_file.describe(mapping)}")
        for mapping in to_add:
            print(f"+ {mappings_file.describe(mapping)}")
        if not to_add and not to_remove:
            print("no changes")
            return 0
        _print_preview(settings, service, to_add, to_remove)
        if args.dry_run:
            print(f"dry run: {len(to_add)} to add, {len(to_remove)} to remove, nothing changed")
            return 0
        actor = f"cli:{getpass.getuser()}"
        with _recorded(settings):
            mappings_file.apply_import(service, to_add, to_remove, actor)
        print(f"imported: {len(to_add)} added, {len(to_remove)} removed")
        return 0
    except (OSError, mappings_file.MappingsFileError, AuthError, MlflowException) as exc:
        print(f"mappings {args.action} failed: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def _recorded(settings):
    """Changes made here go to the activity table too, as a server's do (written at the end)."""
    from mlflow_ldap_auth.activity import start_activity
    from mlflow_ldap_auth.db import tables

    engine = tables.create_engine(settings.mlflow.database_uri)
    tables.migrate(engine)
    activity = start_activity(engine, settings.ldap.audit_retention_days)
    try:
        yield
    finally:
        if activity is not None:
            activity.stop()


def _print_preview(settings, service, to_add, to_remove) -> None:
    """Who gains or loses what, per resource the import touches (as the admin page shows)."""
    from mlflow_ldap_auth.mappings.who_has_access import WhoHasAccess

    ldap = settings.ldap
    policy = AccessPolicy(
        ConfiguredGroups(ldap.admin_group_dns, ldap.allowed_group_dns, service.directory),
        service.groups,
    )
    access = WhoHasAccess(
        service.store,
        service,
        service.directory,
        names=None,
        settings=ldap,
        default_permission=settings.mlflow.default_permission,
        policy=policy,
    )
    existing = service.list()
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


def _tokens(args: argparse.Namespace) -> int:
    settings = _settings_or_none(args)
    if settings is None:
        return 2
    from mlflow_ldap_auth.auth.provisioning import Principal
    from mlflow_ldap_auth.db import tables
    from mlflow_ldap_auth.tokens.service import OPERATOR, TokenService
    from mlflow_ldap_auth.tokens.store import TokenStore

    try:
        engine = tables.create_engine(settings.mlflow.database_uri)
        tables.migrate(engine)
        # The operator holds the configuration file: every token is theirs to see.
        service = TokenService(
            TokenStore(engine),
            settings.ldap.token_max_days,
            is_admin=lambda _username: True,
            forget_cached=lambda: None,  # servers re-read tokens within seconds
        )
        operator = Principal(f"cli:{getpass.getuser()}", True, method=OPERATOR)
        if args.action == "list":
            print(
                f"{'ID':<16}  {'USER':<20}  {'NAME':<24}  {'EXPIRES':<20}  {'LAST USED':<20}  STATE"
            )
            now = time.time()
            for record in service.list(operator, user=args.user, everyone=args.user is None):
                data = record.to_json()
                print(
                    f"{record.id:<16}  {record.owner:<20}  {record.name[:24]:<24}  "
                    f"{data['expires']:<20}  {data['last_used'] or '-':<20}  {record.state(now)}"
                )
            return 0
        record = service.visible(operator, args.id)
        if record is None:
            print(f"tokens revoke failed: no token {args.id!r}", file=sys.stderr)
            return 1
        if record.revoked_at is not None:
            print(f"token {record.id} of {record.owner} was already revoked")
            return 0
        with _recorded(settings):
            service.revoke(operator, record.id, "cli")
        print(f"revoked token {record.id} ({record.name!r}) of {record.owner}")
        return 0
    except sa.exc.SQLAlchemyError as exc:
        print(f"tokens {args.action} failed: database_uri: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlflow_ldap_auth")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="test the configuration against the directory")
    check.add_argument("--user", help="also look this user up (no password needed)")
    check.add_argument("--config", help="config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)")
    check.set_defaults(run=_check)
    mappings = commands.add_parser("mappings", help="export or import the group mappings")
    actions = mappings.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="print all mappings as JSON")
    export.add_argument("--config", help="config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)")
    load = actions.add_parser("import", help="make the mappings equal to FILE")
    load.add_argument("file")
    load.add_argument("--dry-run", action="store_true", help="print the changes, make none")
    load.add_argument("--config", help="config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)")
    mappings.set_defaults(run=_mappings)
    tokens = commands.add_parser("tokens", help="list or revoke access tokens")
    token_actions = tokens.add_subparsers(dest="action", required=True)
    listing = token_actions.add_parser("list", help="print the tokens (never a secret)")
    listing.add_argument("--user", help="only this user's tokens")
    listing.add_argument("--config", help="config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)")
    revoke = token_actions.add_parser("revoke", help="revoke the token ID")
    revoke.add_argument("id")
    revoke.add_argument("--config", help="config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)")
    tokens.set_defaults(run=_tokens)
    args = parser.parse_args(argv)
    return args.run(args)
