"""``check [--user NAME]``: reads the configuration, connects to each server, binds the
service account, checks the Kerberos keytab when one is set (``keytab_check``) and
optionally looks a user up (groups, admin flag, mappings). Exit
status 0 only when all of that worked; otherwise 1 with a one-line reason on stderr
(2 for a bad configuration)."""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from mlflow_ldap_auth import wiring
from mlflow_ldap_auth.cli.common import settings_or_none
from mlflow_ldap_auth.cli.keytab_check import check_kerberos
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.errors import AuthError
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.mappings.store import GroupStore


def run(args: argparse.Namespace) -> int:
    settings = settings_or_none(args)
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
    if settings.ldap.kerberos_keytab:
        failed += check_kerberos(settings.ldap, directory, bound=not failed)
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


def _access(settings: Settings, directory: Directory, user) -> tuple[str, str]:
    """The server's own access decision for ``user``, as two words for the report.

    The database is read as it is: ``check`` migrates nothing."""
    policy = wiring.access_policy(settings, directory, GroupStore(settings.mlflow.database_uri))
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
