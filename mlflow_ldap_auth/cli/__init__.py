"""Command line: ``python -m mlflow_ldap_auth check|mappings|tokens|sessions ...``.

One module per command group, each saying what its commands do: ``check`` (the
configuration against the directory), ``mappings`` (export, import with a preview),
``tokens`` (list, revoke), ``sessions`` (list, end). The services a command uses come
from ``wiring``, the factories a server worker is built from, so a command and a
server decide alike.
"""

from __future__ import annotations

import argparse

from mlflow_ldap_auth.cli import check, mappings, sessions, tokens

CONFIG_HELP = "config file (default: $MLFLOW_LDAP_AUTH_CONFIG_PATH)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlflow_ldap_auth")
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="test the configuration against the directory")
    checking.add_argument("--user", help="also look this user up (no password needed)")
    checking.add_argument("--config", help=CONFIG_HELP)
    checking.set_defaults(run=check.run)
    mapping = commands.add_parser("mappings", help="export or import the group mappings")
    actions = mapping.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="print all mappings as JSON")
    export.add_argument("--config", help=CONFIG_HELP)
    load = actions.add_parser("import", help="make the mappings equal to FILE")
    load.add_argument("file")
    load.add_argument("--dry-run", action="store_true", help="print the changes, make none")
    load.add_argument("--config", help=CONFIG_HELP)
    mapping.set_defaults(run=mappings.run)
    token = commands.add_parser("tokens", help="list or revoke access tokens")
    token_actions = token.add_subparsers(dest="action", required=True)
    listing = token_actions.add_parser("list", help="print the tokens (never a secret)")
    listing.add_argument("--user", help="only this user's tokens")
    listing.add_argument("--config", help=CONFIG_HELP)
    revoke = token_actions.add_parser("revoke", help="revoke the token ID")
    revoke.add_argument("id")
    revoke.add_argument("--config", help=CONFIG_HELP)
    token.set_defaults(run=tokens.run)
    session = commands.add_parser("sessions", help="list or end sign-in sessions")
    session_actions = session.add_subparsers(dest="action", required=True)
    listing = session_actions.add_parser("list", help="print the live sessions (never a secret)")
    listing.add_argument("--user", help="only this user's sessions")
    listing.add_argument("--config", help=CONFIG_HELP)
    end = session_actions.add_parser("end", help="end the session ID, or every one of --user")
    end.add_argument("id", nargs="?", help="the session's id (from `sessions list`)")
    end.add_argument("--user", help="end every session of this user")
    end.add_argument("--config", help=CONFIG_HELP)
    session.set_defaults(run=sessions.run)
    args = parser.parse_args(argv)
    return args.run(args)
