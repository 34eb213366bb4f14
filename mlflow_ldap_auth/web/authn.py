"""MLflow's ``authorization_function``: credentials -> ``Authorization``.

Which credential a request carries, in which header, and how each kind is spelled:
``credentials.read_credential``. Each kind has one authenticator here
(``AUTHENTICATORS``), the only place that dispatches on the kind: ``check``, the fresh
check, which audits its own refusals (``login`` lines with ``"method": "password"``,
``token_refused`` lines with ``"method": "token"``), and ``peek``, memory only
(``preauth`` answers with it on the event loop). A header that cannot be read is
audited here, as a refused ``login`` with ``"method": null``: no kind was read.

MLflow calls it two or three times per request (authentication, admin check,
validators); the first answer is kept on ``flask.g``, so a request costs at most one
credential check. The returned ``Authorization`` carries the *canonical* directory
username (``username_attribute``), never the password.

On MLflow's native FastAPI routes the answer is computed *before* MLflow's
middleware asks, off the event loop (``preauth``), and handed over in a context
variable (``preauthenticated``); ``authenticate_request`` then only reads it. A context
variable is inherited by every task started while it is set, and uvicorn starts a
pipelined request's task from inside the request before it (asyncio can also run a
keep-alive connection's later reads in an earlier request's context). So ``preauth``
writes it at the start of *every* request (nothing, for the requests it does not
answer), and the answer names the credentials it was computed for: it is used only for
a request carrying those same credentials, so no answer can ever serve another sender.
"""

from __future__ import annotations

import contextvars
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, g, request
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import AuthError, InvalidCredentials
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web import http_answers
from mlflow_ldap_auth.web.credentials import (
    Credential,
    PasswordCredential,
    TokenCredential,
    credentials_header,
    read_credential,
)

# Other web modules strip the static prefix with it, from here as before.
from mlflow_ldap_auth.web.credentials import route_path as route_path

_MEMO = "_mlflow_ldap_auth_result"

#: Per process: credentials are compared by a keyed digest, never kept as they came.
_CREDENTIALS_KEY = secrets.token_bytes(32)


def credentials_digest(header: str | None) -> bytes:
    """Which credentials ``header`` carries (no credentials: the digest of ``""``)."""
    return hmac.digest(_CREDENTIALS_KEY, (header or "").encode("utf-8", "surrogatepass"), "sha256")


@dataclass(frozen=True)
class Preauthenticated:
    """``preauth``'s answer for one request, and the credentials it answers."""

    answer: Authorization | Response
    credentials: bytes

    def answers(self, header: str | None) -> bool:
        return hmac.compare_digest(self.credentials, credentials_digest(header))


#: The answer ``preauth`` computed off the event loop for the request being served; set
#: (to None when there is none) by ``preauth`` at the start of every request.
preauthenticated: contextvars.ContextVar[Preauthenticated | None] = contextvars.ContextVar(
    "mlflow_ldap_auth_preauthenticated", default=None
)


@dataclass(frozen=True)
class KindAuthenticator:
    """How one kind of credential is checked."""

    #: ``(plugin, credential, source)`` -> the principal; an ``AuthError`` it raises
    #: is already audited.
    check: Callable[[Any, Any, str | None], Principal]
    #: ``(plugin, credential)`` -> the principal if memory alone says so (no I/O), or None.
    peek: Callable[[Any, Any], Principal | None]


def _check_password(plugin, credential: PasswordCredential, source: str | None) -> Principal:
    service = plugin.login_service
    try:
        return service.login(credential.login, credential.password, source)
    except AuthError as error:
        service.audit_refusal(credential.login, source, error)
        raise


def _check_token(plugin, credential: TokenCredential, source: str | None) -> Principal:
    # Audited as token_refused by the token authenticator.
    return plugin.tokens.authenticate(credential.secret, credential.claimed_owner, source)


#: The authenticator of each kind of credential (``credentials``).
AUTHENTICATORS: dict[type, KindAuthenticator] = {
    PasswordCredential: KindAuthenticator(
        check=_check_password,
        peek=lambda plugin, credential: plugin.login_service.peek(
            credential.login, credential.password
        ),
    ),
    TokenCredential: KindAuthenticator(
        check=_check_token,
        peek=lambda plugin, credential: plugin.tokens.peek(
            credential.secret, credential.claimed_owner
        ),
    ),
}


def cached_principal(plugin, path: str, headers, cookies=None) -> Principal | None:
    """Who a request authenticates as, if memory alone says so (no I/O; None otherwise)."""
    try:
        credential = read_credential(path, headers, cookies)
    except InvalidCredentials:
        return None
    if credential is None:
        return None
    return AUTHENTICATORS[type(credential)].peek(plugin, credential)


def authenticate_request() -> Authorization | Response:
    result = g.get(_MEMO)
    if result is None:
        result = _preauthenticated_answer() or check_current_request()
        setattr(g, _MEMO, result)
    return result


def _preauthenticated_answer() -> Authorization | Response | None:
    """``preauth``'s answer, if it was computed for the credentials of this request."""
    computed = preauthenticated.get()
    if computed is None:
        return None
    if not computed.answers(credentials_header(request.path, request.headers)):
        return None
    return computed.answer


def current_principal():
    """Who the current (authenticated) request runs as: a ``Principal``, or None."""
    authenticate_request()
    return g.get("mlflow_ldap_auth_principal")


def check_current_request() -> Authorization | Response:
    """Check the current Flask request's credentials (the one place that does)."""
    plugin = current_plugin()
    source = request.remote_addr or None
    try:
        credential: Credential | None = read_credential(request.path, request.headers)
    except InvalidCredentials as error:  # no kind could be read: no method
        plugin.login_service.audit_refusal(None, source, error, method=None)
        return http_answers.answer_for(error)
    if credential is None:  # a browser's first request, not a login attempt
        return http_answers.unauthenticated()
    try:
        principal = AUTHENTICATORS[type(credential)].check(plugin, credential, source)
    except AuthError as error:
        return http_answers.answer_for(error)
    g.mlflow_ldap_auth_principal = principal
    return Authorization("basic", {"username": principal.username})
