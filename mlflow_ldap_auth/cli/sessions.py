"""``sessions list [--user NAME]`` prints the live sign-in sessions (everyone's, or NAME's;
never a secret, which is not stored); ``sessions end ID`` ends one, ``sessions end
--user NAME`` every session of NAME: refused at once by every worker of every server on
the database. They work on the database directly, as the operator who holds the
configuration file, an admin (audited as ``ended_by_admin`` by ``cli:<login>``)."""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from mlflow_ldap_auth import wiring
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.cli.common import operator_name, recorded, settings_or_none
from mlflow_ldap_auth.sessions.service import SessionService
from mlflow_ldap_auth.tokens.service import OPERATOR


def run(args: argparse.Namespace) -> int:
    settings = settings_or_none(args)
    if settings is None:
        return 2
    try:
        engine = wiring.open_database(settings)
        # The operator holds the configuration file: an admin. No session is checked
        # here, so no revalidator; an end is seen by every server at their next request.
        service = wiring.session_service(
            wiring.session_authenticator(settings, engine, revalidator=None),
            admin_flags=None,
        )
        operator = Principal(operator_name(), True, method=OPERATOR)
        if args.action == "list":
            _list(service, operator, args.user)
            return 0
        return _end(settings, service, operator, args)
    except sa.exc.SQLAlchemyError as exc:
        print(f"sessions {args.action} failed: database_uri: {exc}", file=sys.stderr)
        return 1


def _end(settings, service: SessionService, operator: Principal, args) -> int:
    if (args.id is None) == (args.user is None):
        print("sessions end: name one session ID or --user NAME", file=sys.stderr)
        return 2
    if args.user is not None:
        with recorded(settings):
            ended = service.end_all(operator, args.user, "cli")
        print(f"ended {len(ended)} session(s) of {args.user}")
        return 0
    record = service.visible(operator, args.id)
    if record is None:
        print(f"sessions end failed: no session {args.id!r}", file=sys.stderr)
        return 1
    if record.ended_at is not None:
        print(f"session {record.id} of {record.owner} had already ended")
        return 0
    with recorded(settings):
        service.end(operator, record.id, "cli")
    print(f"ended session {record.id} of {record.owner}")
    return 0


def _list(service: SessionService, operator: Principal, user: str | None) -> None:
    print(f"{'ID':<32}  {'USER':<20}  {'SIGNED IN':<20}  {'LAST SEEN':<20}  FROM")
    for record in service.list(operator, user=user, everyone=user is None):
        data = record.to_json()
        print(
            f"{record.id:<32}  {record.owner:<20}  {data['created']:<20}  "
            f"{data['last_seen']:<20}  {record.source or '-'}"
        )
