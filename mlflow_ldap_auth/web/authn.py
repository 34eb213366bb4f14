"""MLflow's ``authorization_function``: credentials -> ``Authorization``.

Credentials are HTTP Basic ``user:password`` (directory password), or an access token
(docs/tokens.md#use-it): ``Bearer <secret>`` (what ``MLFLOW_TRACKING_TOKEN`` sends), Basic
``user:<secret>`` (a password that starts with the token prefix ``mldap_`` is taken as
a token), or Basic ``<secret>:<anything>`` as GitHub-style clients send it (the secret
as the username, the password empty, ``x-oauth-basic`` or anything else, and ignored).
A username that holds the prefix anywhere is taken as a token too: it is never a
directory name, so a pasted secret never reaches the directory search, the audit log,
the activity table or the lock-out counters.

MLflow calls it two or three times per request (authentication, admin check,
validators); the first answer is kept on ``flask.g``, so a request costs at most one
credential check. The returned ``Authorization`` carries the *canonical* directory
username (``username_attribute``), never the password.

Where the credentials are read: ``Authorization``, except on ``/gateway/`` routes,
where a non-empty ``X-MLflow-Authorization`` comes first (as in MLflow: coding agents
put their LLM provider key in ``Authorization`` there).

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

import base64
import binascii
import contextvars
import hmac
import secrets
from dataclasses import dataclass

from flask import Response, g, request
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import AuthError, InvalidCredentials
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.tokens.secret_format import looks_like_secret, mentions_secret
from mlflow_ldap_auth.web import http_answers

MAX_AUTHORIZATION_HEADER = 8 * 1024
GATEWAY_PREFIX = "/gateway/"
GATEWAY_AUTH_HEADER = "X-MLflow-Authorization"
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


def parse_basic_credentials(header: str | None) -> tuple[str, str]:
    """``Basic base64(user:password)`` -> (user, password); ``InvalidCredentials`` otherwise."""
    if not header:
        raise InvalidCredentials("no Authorization header", reason=reasons.NO_CREDENTIALS)
    if len(header) > MAX_AUTHORIZATION_HEADER:
        raise InvalidCredentials("Authorization header over 8 KiB", reason=reasons.MALFORMED_HEADER)
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise InvalidCredentials("not HTTP Basic", reason=reasons.MALFORMED_HEADER)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidCredentials(
            "bad base64 or not UTF-8", reason=reasons.MALFORMED_HEADER
        ) from None
    login, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidCredentials("no colon in credentials", reason=reasons.MALFORMED_HEADER)
    if "\0" in login or any(ord(c) < 0x20 or ord(c) == 0x7F for c in login):
        raise InvalidCredentials("control character in username", reason=reasons.MALFORMED_USERNAME)
    return login, password


@dataclass(frozen=True)
class TokenCredential:
    secret: str
    #: The username sent with the secret as password in Basic; None for Bearer and for
    #: the secret sent as the username.
    claimed_owner: str | None = None


def parse_credentials(header: str | None) -> tuple[str, str] | TokenCredential:
    """(user, password) for a password; ``TokenCredential`` for a token."""
    if header and len(header) <= MAX_AUTHORIZATION_HEADER:
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            secret = rest.strip()
            if not looks_like_secret(secret):
                raise InvalidCredentials(
                    "a Bearer credential that is not a token", reason=reasons.NOT_A_TOKEN
                )
            return TokenCredential(secret)
    login, password = parse_basic_credentials(header)
    if mentions_secret(login):
        return TokenCredential(login.strip())
    if looks_like_secret(password):
        return TokenCredential(password, claimed_owner=login)
    return login, password


def route_path(path: str) -> str:
    """``path`` without the server's ``--static-prefix``."""
    prefix = static_prefix()
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


def credentials_header(path: str, headers) -> str | None:
    """The header that carries the MLflow credential for a request to ``path``."""
    if route_path(path).startswith(GATEWAY_PREFIX):
        gateway = headers.get(GATEWAY_AUTH_HEADER)
        if gateway:
            return gateway
    return headers.get("Authorization")


def cached_principal(plugin, header: str | None):
    """Who ``header`` authenticates as, if memory alone says so (no I/O; None otherwise)."""
    try:
        credential = parse_credentials(header)
    except InvalidCredentials:
        return None
    if isinstance(credential, TokenCredential):
        return plugin.tokens.peek(credential.secret, credential.claimed_owner)
    return plugin.login_service.peek(*credential)


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
    service = plugin.login_service
    source = request.remote_addr or None
    login = None
    try:
        credential = parse_credentials(credentials_header(request.path, request.headers))
        if isinstance(credential, TokenCredential):
            try:
                principal = plugin.tokens.authenticate(
                    credential.secret, credential.claimed_owner, source
                )
            except AuthError as error:  # audited as token_refused by the authenticator
                return http_answers.answer_for(error)
        else:
            login, password = credential
            principal = service.login(login, password, source)
    except AuthError as error:
        service.audit_refusal(login, source, error)
        return http_answers.answer_for(error)
    g.mlflow_ldap_auth_principal = principal
    return Authorization("basic", {"username": principal.username})
