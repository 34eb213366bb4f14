"""MLflow's ``authorization_function``: credentials -> ``Authorization``.

Which credential a request carries, in which header, and how each kind is spelled:
``credentials.read_credential``. Each kind has one authenticator here
(``AUTHENTICATORS``), the only place that dispatches on the kind: ``check``, the fresh
check, which audits its own refusals (``login`` lines with ``"method": "password"``,
``token_refused`` lines with ``"method": "token"``, ``session_refused`` and
``session_ended`` lines for the session cookie), and ``peek``, memory only (``preauth``
answers with it on the event loop). A header that cannot be read is audited here, as a
refused ``login`` with ``"method": null``: no kind was read.

The session cookie is the one credential a browser sends by itself, so two answers
differ for it (docs/security.md#cross-site-requests): a state-changing request that
only the cookie authenticates is refused (403, audit ``session_refused`` with reason
``cross_site``) when its ``Origin`` or ``Sec-Fetch-Site`` says another site sent it
(``origins.cross_site``); and a session that is over is answered 401 *without* a Basic
challenge (``http_answers.session_over``), so no password prompt pops up over
MLflow's pages (a navigation goes to the sign-in page instead: ``navigation``). Such
a request is never answered from memory (``cached_principal``).

MLflow calls it two or three times per request (authentication, admin check,
validators); the first answer is kept on ``flask.g``, so a request costs at most one
credential check. The returned ``Authorization`` carries the *canonical* directory
username (``username_attribute``), never the password. A request without credentials
is answered ``401`` with the Basic challenge, or, for a browser navigation, ``303`` to
the sign-in page (``navigation.answer_without_credentials``). With ``kerberos_keytab``
the 401 also offers ``Negotiate``, and a navigation gets the 401 with the sign-in page
as its body (``negotiate_answers``); a refused ticket of a navigation gets the page
with the refusal.

On MLflow's native FastAPI routes the answer is computed *before* MLflow's
middleware asks, off the event loop (``preauth``), and handed over in a context
variable (``preauthenticated``); ``authenticate_request`` then only reads it. A context
variable is inherited by every task started while it is set, and uvicorn starts a
pipelined request's task from inside the request before it (asyncio can also run a
keep-alive connection's later reads in an earlier request's context). So ``preauth``
writes it at the start of *every* request (nothing, for the requests it does not
answer), and the answer names the credential it was computed for (header or cookie,
``credentials.credential_source``): it is used only for a request carrying that same
credential, so no answer can ever serve another sender.
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

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.login import NEGOTIATE_METHOD
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import AuthError, InvalidCredentials
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web import http_answers, negotiate_answers, origins
from mlflow_ldap_auth.web.credentials import (
    Credential,
    CredentialSource,
    NegotiateCredential,
    PasswordCredential,
    SessionCredential,
    TokenCredential,
    credential_source,
    read_credential,
)

# Other web modules strip the static prefix with it, from here as before.
from mlflow_ldap_auth.web.credentials import route_path as route_path

_MEMO = "_mlflow_ldap_auth_result"

#: Per process: credentials are compared by a keyed digest, never kept as they came.
_CREDENTIALS_KEY = secrets.token_bytes(32)


def credentials_digest(source: CredentialSource | None) -> bytes:
    """Which credential a request carries (``credential_source``; None: the digest of
    ``""``). Where it was found is part of it: a header and a cookie never compare equal."""
    where, text = source or ("", "")
    return hmac.digest(
        _CREDENTIALS_KEY, f"{where}\0{text}".encode("utf-8", "surrogatepass"), "sha256"
    )


@dataclass(frozen=True)
class Preauthenticated:
    """``preauth``'s answer for one request, and the credential it answers."""

    answer: Authorization | Response
    credentials: bytes
    #: Headers the check adds to the route's answer (Kerberos's mutual token).
    reply_headers: tuple[tuple[str, str], ...] = ()

    def answers(self, source: CredentialSource | None) -> bool:
        return hmac.compare_digest(self.credentials, credentials_digest(source))


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


def _check_negotiate(plugin, credential: NegotiateCredential, source: str | None) -> Principal:
    # Audited as a login with "method": "negotiate" by the Negotiate authenticator. The
    # parser reads Negotiate only when the plugin has one.
    signed_in = plugin.negotiate.authenticate(credential.token, source)
    setattr(g, negotiate_answers.SIGNED_IN, signed_in)  # the mutual token, a session
    return signed_in.principal


def _check_session(plugin, credential: SessionCredential, source: str | None) -> Principal:
    # Audited as session_refused / session_ended by the session authenticator.
    return plugin.sessions.authenticate(credential.secret, source)


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
    # Every session check reads its row (sign-out holds at once everywhere): no
    # memory-only answer; preauth checks in a worker thread.
    SessionCredential: KindAuthenticator(check=_check_session, peek=lambda plugin, c: None),
    # Every ticket is accepted (the replay cache, the mutual token): no memory-only answer.
    NegotiateCredential: KindAuthenticator(check=_check_negotiate, peek=lambda plugin, c: None),
}


def cached_principal(plugin, path: str, method: str, headers, cookies=None) -> Principal | None:
    """Who a request authenticates as, if memory alone says so (no I/O; None otherwise).

    Never for a state-changing request on the session cookie: the cross-site rule is
    applied by the fresh check (``check_current_request``) alone."""
    try:
        credential = read_credential(path, headers, cookies, negotiate=plugin.negotiate is not None)
    except InvalidCredentials:
        return None
    if credential is None:
        return None
    if isinstance(credential, SessionCredential) and origins.is_state_changing(method):
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
    if not computed.answers(credential_source(request.path, request.headers, _request_cookies())):
        return None
    return computed.answer


def _request_cookies():
    """The request's cookies (Flask parses them once); None without a ``Cookie`` header,
    as most API requests come: nothing to parse, and no credential in a cookie."""
    return request.cookies if "HTTP_COOKIE" in request.environ else None


def current_principal():
    """Who the current (authenticated) request runs as: a ``Principal``, or None."""
    authenticate_request()
    return g.get("mlflow_ldap_auth_principal")


def check_current_request() -> Authorization | Response:
    """Check the current Flask request's credentials (the one place that does)."""
    plugin = current_plugin()
    source = request.remote_addr or None
    negotiate = plugin.negotiate is not None
    try:
        credential: Credential | None = read_credential(
            request.path, request.headers, _request_cookies(), negotiate=negotiate
        )
    except InvalidCredentials as error:  # no kind could be read: no method (but Negotiate's)
        method = NEGOTIATE_METHOD if error.reason == reasons.MALFORMED_NEGOTIATE else None
        plugin.login_service.audit_refusal(None, source, error, method=method)
        return negotiate_answers.refused(error) or http_answers.answer_for(error)
    if credential is None:  # a browser's first request, not a login attempt
        return negotiate_answers.without_credentials() or http_answers.unauthenticated(
            negotiate=negotiate
        )
    try:
        principal = AUTHENTICATORS[type(credential)].check(plugin, credential, source)
    except AuthError as error:
        if isinstance(credential, SessionCredential) and isinstance(error, InvalidCredentials):
            return negotiate_answers.without_credentials() or http_answers.session_over()
        if isinstance(credential, NegotiateCredential):
            return negotiate_answers.refused(error) or http_answers.answer_for(error)
        return http_answers.answer_for(error)
    if isinstance(credential, SessionCredential):
        refused = _refuse_cross_site(principal, source)
        if refused is not None:
            return refused
    g.mlflow_ldap_auth_principal = principal
    return Authorization("basic", {"username": principal.username})


def _refuse_cross_site(principal: Principal, source: str | None) -> Response | None:
    """403 for a state-changing request another site sent with the session cookie."""
    sent_by = origins.cross_site(request.method, request.headers, request.host, request.scheme)
    if sent_by is None:
        return None
    audit(
        reasons.SESSION_REFUSED,
        user=principal.username,
        source=source,
        result="refused",
        reason=reasons.CROSS_SITE,
        method=request.method,
        sent_by=sent_by,
    )
    return http_answers.cross_site_refused()
