"""The one place where login outcomes become HTTP answers.

* ``InvalidCredentials`` -> 401 with ``WWW-Authenticate: Basic realm="mlflow"`` and one
  message for every cause (unknown user and wrong password look the same);
* ``NotAllowed`` -> 403;
* ``DirectoryUnavailable`` -> 503, MLflow's JSON error format and ``Retry-After``: never
  401, which would make browsers re-prompt and scripts believe the password is wrong.
"""

from __future__ import annotations

import json

from flask import Response

from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, NotAllowed

RETRY_AFTER_SECONDS = 30
UNAUTHENTICATED_MESSAGE = (
    "You are not authenticated. Log in with your directory username and password "
    "(HTTP Basic; MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD for clients)."
)


def _json(status: int, error_code: str, message: str, headers: dict[str, str]) -> Response:
    body = json.dumps({"error_code": error_code, "message": message})
    return Response(body, status=status, headers=headers, mimetype="application/json")


def unauthenticated() -> Response:
    return _json(
        401,
        "UNAUTHENTICATED",
        UNAUTHENTICATED_MESSAGE,
        {"WWW-Authenticate": 'Basic realm="mlflow"'},
    )


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
