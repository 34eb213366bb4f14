"""``python -m mlflow_ldap_auth check [--user NAME]``: is the directory set up right?

Reads the configuration, connects to each server, binds the service account and
optionally looks a user up (groups, admin flag). Exit status 0 only when all of that
worked; otherwise 1 with a one-line reason on stderr (2 for a bad configuration).
"""

from __future__ import annotations

import argparse
import sys

from mlflow_ldap_auth.config import load_settings
from mlflow_ldap_auth.directory import Directory
from mlflow_ldap_auth.errors import AuthError, ConfigError
from mlflow_ldap_auth.login import is_admin_member, is_allowed


def _check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
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
            ldap = settings.ldap
            print(f"user {args.user!r}: {user.dn}")
            print(f"  mlflow username: {user.username}")
            for dn in sorted(user.direct_group_dns):
                print(f"  group (direct): {dn}")
            for dn in sorted(user.group_dns - user.direct_group_dns):
                print(f"  group (nested): {dn}")
            print(f"  admin: {'yes' if is_admin_member(user, ldap.admin_group_dns) else 'no'}")
            print(f"  allowed: {'yes' if is_allowed(user, ldap.allowed_group_dns) else 'no'}")
    directory.close()
    if failed:
        print(f"check failed: {failed[0]}", file=sys.stderr)
        return 1
    print("check: ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlflow_ldap_auth")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="test the configuration against the directory")
    check.add_argument("--user", help="also look this user up (no password needed)")
    check.add_argument("--config", help="config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)")
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    return args.run(args)
