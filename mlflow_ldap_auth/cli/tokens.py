"""``tokens list [--user NAME]`` prints the access tokens (everyone's, or NAME's; never a
secret, which is not stored); ``tokens revoke ID`` revokes one: every worker of every
server on the database refuses it within 10 s. Both work on the database directly, as
the operator who holds the configuration file (audited with actor ``cli:<login>``)."""

from __future__ import annotations

import argparse
import sys
import time

import sqlalchemy as sa

from mlflow_ldap_auth import wiring
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.cli.common import operator_name, recorded, settings_or_none
from mlflow_ldap_auth.tokens.service import OPERATOR, TokenService
from mlflow_ldap_auth.tokens.store import TokenStore


def run(args: argparse.Namespace) -> int:
    settings = settings_or_none(args)
    if settings is None:
        return 2
    try:
        # The operator holds the configuration file: every token is theirs to see; the
        # servers re-read tokens within seconds, so nothing here is remembered.
        service = wiring.token_service(
            settings,
            TokenStore(wiring.open_database(settings)),
            admin_flags=None,
            authenticator=None,
        )
        operator = Principal(operator_name(), True, method=OPERATOR)
        if args.action == "list":
            _list(service, operator, args.user)
            return 0
        record = service.visible(operator, args.id)
        if record is None:
            print(f"tokens revoke failed: no token {args.id!r}", file=sys.stderr)
            return 1
        if record.revoked_at is not None:
            print(f"token {record.id} of {record.owner} was already revoked")
            return 0
        with recorded(settings):
            service.revoke(operator, record.id, "cli")
        print(f"revoked token {record.id} ({record.name!r}) of {record.owner}")
        return 0
    except sa.exc.SQLAlchemyError as exc:
        print(f"tokens {args.action} failed: database_uri: {exc}", file=sys.stderr)
        return 1


def _list(service: TokenService, operator: Principal, user: str | None) -> None:
    print(f"{'ID':<16}  {'USER':<20}  {'NAME':<24}  {'EXPIRES':<20}  {'LAST USED':<20}  STATE")
    now = time.time()
    for record in service.list(operator, user=user, everyone=user is None):
        data = record.to_json()
        print(
            f"{record.id:<16}  {record.owner:<20}  {record.name[:24]:<24}  "
            f"{data['expires']:<20}  {data['last_used'] or '-':<20}  {record.state(now)}"
        )
