"""The one place where refusals become HTTP answers in MLflow's JSON error format.

Every JSON error body the plugin writes is written here; pages render their own
templates from the same error objects. Two forms, as the plugin has always answered:

* ``error_answer``: a ``DomainError`` a view raised, answered as MLflow's own
  ``catch_mlflow_exception`` answers an ``MlflowException`` of the same code (the body is
  MLflow's ``serialize_as_json``: ``error_code``, ``message`` and, on releases that add
  them, ``sqlstate`` and ``error_class``), with the class's status and headers
  (``RateLimited``: ``Retry-After``). ``install_error_answers`` makes it the handler of
  a blueprint's views;
* ``guard_answer`` and the login answers below: ``{"error_code", "message"}`` only, what
  the plugin's own guards write before a request reaches MLflow's routes;
* ``InvalidCredentials`` -> 401 with ``WWW-Authenticate: Basic realm="mlflow"`` and one
  message for every cause (unknown user and wrong password look the same); a request
  without credentials on a server with ``kerberos_keytab`` gets ``WWW-Authenticate:
  Negotiate`` too;
* ``NotAllowed`` -> 403;
* ``DirectoryUnavailable`` -> 503, MLflow's JSON error format and ``Retry-After``: never
  401, which would make browsers re-prompt and scripts believe the password is wrong;
* a session cookie whose session is over (``session_over``) -> 401 *without* a Basic
  challenge: a browser would otherwise pop its password prompt up over MLflow's pages;
* a state-changing request another site sent with the session cookie
  (``cross_site_refused``) -> 403.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, DomainError, NotAllowed

_logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
UNAUTHENTICATED_MESSAGE = (
    "You are not authenticated. Log in with your directory username and password "
    "(HTTP Basic; MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD for clients)."
)


def _json(status: int, error_code: str, message: str, headers: dict[str, str]) -> Response:
    body = json.dumps({"error_code": error_code, "message": message})
    return Response(body, status=status, headers=headers, mimetype="application/json")


BASIC_CHALLENGE = 'Basic realm="mlflow"'
NEGOTIATE_CHALLENGE = "Negotiate"


def unauthenticated(negotiate: bool = False) -> Response:
    """401 with the Basic challenge; with ``negotiate`` (``kerberos_keytab`` is set) the
    ``Negotiate`` one first, so a client holding a ticket uses it. Both are one header
    (RFC 9110 11.6.1): MLflow's security middleware keeps one header of each name."""
    challenge = f"{NEGOTIATE_CHALLENGE}, {BASIC_CHALLENGE}" if negotiate else BASIC_CHALLENGE
    return _json(401, "UNAUTHENTICATED", UNAUTHENTICATED_MESSAGE, {"WWW-Authenticate": challenge})


SESSION_OVER_MESSAGE = (
    "Your session is over (signed out, idle or expired). Sign in again, or log in with "
    "your directory username and password (HTTP Basic) or an access token."
)
CROSS_SITE_MESSAGE = (
    "A change sent by another site with your session cookie was refused. Use this "
    "server's own pages, or send a password or an access token instead of the cookie."
)


def session_over() -> Response:
    """The answer to a request whose session cookie names no live session (unknown,
    signed out, ended, idle, expired, or refused by revalidation).

    The one place that answers it: a browser's navigation is to go to the sign-in page
    here; an API call (MLflow's UI fetches included) gets 401 without a
    ``WWW-Authenticate`` challenge, which would open the browser's password prompt."""
    return _json(401, "UNAUTHENTICATED", SESSION_OVER_MESSAGE, {})


def cross_site_refused() -> Response:
    """403 for a state-changing request another site sent with the session cookie."""
    return _json(403, "PERMISSION_DENIED", CROSS_SITE_MESSAGE, {})


def answer_for(error: AuthError) -> Response:
    if isinstance(error, DirectoryUnavailable):
        return _json(
            503,
            "TEMPORARILY_UNAVAILABLE",
            "The login directory (LDAP) is unavailable; try again shortly.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, NotAllowed):
        return _json(
            403,
            "PERMISSION_DENIED",
            "Your directory account is not allowed to use this MLflow server.",
            {},
        )
    return unauthenticated()


def error_answer(error: DomainError) -> Response:
    """``error`` as MLflow answers an ``MlflowException`` of its code, status and headers."""
    if error.http_status >= 500:
        _logger.error("Error answered %s: %s", error.http_status, error.message)
    body = MlflowException(error.message, ErrorCode.Value(error.error_code)).serialize_as_json()
    return Response(
        body, status=error.http_status, headers=error.headers(), mimetype="application/json"
    )


def guard_answer(error: DomainError) -> Response:
    """``error`` in the short form of the plugin's guards: error code and message only."""
    return _json(error.http_status, error.error_code, error.message, error.headers())


def install_error_answers(blueprint: Blueprint) -> None:
    """A ``DomainError`` raised by a view of ``blueprint`` is answered by ``error_answer``."""
    blueprint.register_error_handler(DomainError, error_answer)
