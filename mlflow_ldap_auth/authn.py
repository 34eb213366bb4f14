"""MLflow's ``authorization_function``: HTTP Basic credentials -> ``Authorization``.

MLflow calls it two or three times per request (authentication, admin check,
validators); the first answer is kept on ``flask.g``, so a request costs at most one
credential check. The returned ``Authorization`` carries the *canonical* directory
username (``username_attribute``), never the password.
"""

from __future__ import annotations

import base64
import binascii

from flask import Response, current_app, g, request
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth import http_answers
from mlflow_ldap_auth.errors import AuthError, InvalidCredentials

EXTENSION = "ldap_auth"
MAX_AUTHORIZATION_HEADER = 8 * 1024
_MEMO = "_mlflow_ldap_auth_result"


def parse_basic_credentials(header: str | None) -> tuple[str, str]:
    """``Basic base64(user:password)`` -> (user, password); ``InvalidCredentials`` otherwise."""
    if not header:
        raise InvalidCredentials("no Authorization header", reason="no_credentials")
    if len(header) > MAX_AUTHORIZATION_HEADER:
        raise InvalidCredentials("Authorization header over 8 KiB", reason="malformed_header")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise InvalidCredentials("not HTTP Basic", reason="malformed_header")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidCredentials("bad base64 or not UTF-8", reason="malformed_header") from None
    login, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidCredentials("no colon in credentials", reason="malformed_header")
    if "\0" in login or any(ord(c) < 0x20 for c in login):
        raise InvalidCredentials("control character in username", reason="malformed_username")
    return login, password


def authenticate_request() -> Authorization | Response:
    result = g.get(_MEMO)
    if result is None:
        result = _authenticate()
        setattr(g, _MEMO, result)
    return result


def _authenticate() -> Authorization | Response:
    service = current_app.extensions[EXTENSION]
    source = request.remote_addr
    login = None
    try:
        login, password = parse_basic_credentials(request.headers.get("Authorization"))
        principal = service.login(login, password, source)
    except AuthError as error:
        service.audit_refusal(login, source, error)
        return http_answers.answer_for(error)
    g.mlflow_ldap_auth_principal = principal
    return Authorization("basic", {"username": principal.username})
