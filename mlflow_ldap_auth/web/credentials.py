"""The kinds of credential a request can carry, and the one parser that reads them.

A credential kind is a small frozen dataclass that names its audit ``method`` (the
``method`` field of ``login`` lines, docs/reference/audit.md#logins):

- ``PasswordCredential(login, password)``: HTTP Basic ``user:password``, checked against
  the directory (or the break-glass admin);
- ``TokenCredential(secret, claimed_owner)``: an access token (docs/tokens.md#use-it),
  sent as ``Bearer <secret>`` (what ``MLFLOW_TRACKING_TOKEN`` sends), as Basic
  ``user:<secret>`` (a password that starts with the prefix ``mldap_``; ``user`` is the
  claimed owner), or as Basic ``<secret>:<anything>`` the way GitHub-style clients send
  it (the secret as the username, the password empty, ``x-oauth-basic`` or anything, and
  ignored). A username that holds the prefix anywhere is taken as a token too: it is
  never a directory name, so a pasted secret never reaches the directory search, the
  audit log, the activity table or the lock-out counters.

- ``SessionCredential(secret)``: a browser session, the ``mlflow_ldap_session`` cookie
  set at sign-in. A cookie value that is no well-formed session
  secret (forged, over 4 KiB, odd bytes, several cookies of that name) is read as
  ``SessionCredential("")``: an unknown session to the session check, refused as such
  (401), never a 5xx.

``read_credential(path, headers, cookies)`` is the only place a request's credential is
read (``authn`` for Flask requests, ``preauth`` for MLflow's FastAPI routes): the kind,
``None`` when the request carries no credentials at all, or ``InvalidCredentials`` with
the registry's reason for one that cannot be read (``malformed_header``: over 8 KiB,
not Basic, bad base64, not UTF-8, no colon; ``malformed_username``: a control character
in the username; ``not_a_token``: a Bearer value that does not start with the prefix).

Where it is read (``credential_source``): ``Authorization``; the session cookie only
when the request carries no credential header. A client that sends ``Authorization``
means it: a script's token acts as the token's owner, not as whoever signed in in that
browser, a malformed header is refused rather than rescued by a cookie, and one request
is never two people. On ``/gateway/`` routes (after the server's ``--static-prefix``) a
non-empty ``X-MLflow-Authorization`` comes first, as in MLflow, then the cookie, then
``Authorization``: coding agents put their LLM provider key in ``Authorization`` there.
``credential_source`` names where the credential was found and its text, so an answer
computed for one request (``authn.Preauthenticated``) is taken only by a request that
carries the same credential, header or cookie.

- ``NegotiateCredential(token)``: ``Authorization: Negotiate <base64>``, a Kerberos
  ticket (SPNEGO-wrapped or bare), read only when the server has ``kerberos_keytab``
  (``negotiate=True``); without it the header is what it always was, a header that is
  not Basic (``malformed_header``). Its own bound: ``MAX_NEGOTIATE_TOKEN`` characters
  of base64 (64 KiB: an AD ticket with a large PAC, a user in hundreds of groups,
  reaches 12-48 KiB), not Basic's 8 KiB; over it, bad base64 or empty:
  ``malformed_negotiate``. The token is checked by ``kerberos``, never here.

Adding a kind is one dataclass here, one branch of the parser, and one authenticator
(``authn.AUTHENTICATORS``, the only place that dispatches on the kind).

Every field that holds a secret (password, token secret, session secret) is left out
of ``repr``, so a credential that ends up in a log line or a traceback shows no secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.login import NEGOTIATE_METHOD, SESSION_METHOD
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.sessions.secret_format import is_well_formed
from mlflow_ldap_auth.tokens.secret_format import looks_like_secret, mentions_secret

MAX_AUTHORIZATION_HEADER = 8 * 1024
#: Longest ``Negotiate`` token read, in base64 characters (see the module docstring).
MAX_NEGOTIATE_TOKEN = 64 * 1024
NEGOTIATE_SCHEME = "negotiate"
GATEWAY_PREFIX = "/gateway/"
GATEWAY_AUTH_HEADER = "X-MLflow-Authorization"
SESSION_COOKIE = "mlflow_ldap_session"
#: A longer session cookie is no session secret (one is 57 characters); not looked at.
MAX_SESSION_COOKIE = 4 * 1024
#: A control character (C0 or DEL): never in a username.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")
#: Where ``credential_source`` found the credential.
HEADER = "header"
COOKIE = "cookie"

#: (where: ``HEADER`` or ``COOKIE``, the text found there).
CredentialSource: TypeAlias = tuple[str, str]


@dataclass(frozen=True)
class PasswordCredential:
    """A login name as typed and its password (directory or break-glass)."""

    method: ClassVar[str] = "password"

    login: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TokenCredential:
    """An access token's secret, and the username sent with it, if any."""

    method: ClassVar[str] = "token"

    secret: str = field(repr=False)
    #: The username sent with the secret as password in Basic; None for Bearer and for
    #: the secret sent as the username.
    claimed_owner: str | None = None


@dataclass(frozen=True)
class SessionCredential:
    """The secret of a browser session (the ``mlflow_ldap_session`` cookie); "" for a
    cookie that is no session secret."""

    method: ClassVar[str] = SESSION_METHOD

    secret: str = field(repr=False)


@dataclass(frozen=True)
class NegotiateCredential:
    """A Kerberos token (``Authorization: Negotiate``), decoded from base64."""

    method: ClassVar[str] = NEGOTIATE_METHOD

    token: bytes = field(repr=False)


Credential: TypeAlias = (
    PasswordCredential | TokenCredential | SessionCredential | NegotiateCredential
)


def route_path(path: str) -> str:
    """``path`` without the server's ``--static-prefix``."""
    prefix = static_prefix()
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


def credential_source(
    path: str, headers, cookies: Mapping[str, str] | None = None
) -> CredentialSource | None:
    """Where the MLflow credential of a request to ``path`` is, and its text; None when
    the request carries none (see the module docstring for the order)."""
    authorization = headers.get("Authorization")
    if route_path(path).startswith(GATEWAY_PREFIX):
        gateway = headers.get(GATEWAY_AUTH_HEADER)
        if gateway:
            return HEADER, gateway
    elif authorization:
        return HEADER, authorization
    session = session_cookie(cookies)
    if session is not None:
        return COOKIE, session
    return (HEADER, authorization) if authorization else None


def session_cookie(cookies: Mapping[str, str] | None) -> str | None:
    """The ``mlflow_ldap_session`` cookie's text; None without one. Several cookies of
    that name are one text that is no session secret: none of them is chosen."""
    if not cookies or SESSION_COOKIE not in cookies:
        return None
    getlist = getattr(cookies, "getlist", None)
    values = getlist(SESSION_COOKIE) if getlist is not None else [cookies[SESSION_COOKIE]]
    return values[0] if len(values) == 1 else "; ".join(values)


def read_credential(
    path: str, headers, cookies: Mapping[str, str] | None = None, *, negotiate: bool = False
) -> Credential | None:
    """The credential a request to ``path`` carries; None when it carries none.

    ``cookies`` (a Flask request's ``cookies``, or any mapping; a multi-dict tells
    several cookies of one name apart) is looked at only without a credential header.
    ``negotiate``: the server accepts Kerberos (``kerberos_keytab`` is set).
    """
    source = credential_source(path, headers, cookies)
    if source is None:
        return None
    where, text = source
    if where == COOKIE:
        return parse_session_cookie(text)
    return parse_authorization(text, negotiate=negotiate)


def parse_session_cookie(text: str) -> SessionCredential:
    """The session credential of a cookie's text: "" for anything but a session secret."""
    if len(text) > MAX_SESSION_COOKIE or not is_well_formed(text):
        return SessionCredential("")
    return SessionCredential(text)


def parse_authorization(header: str | None, *, negotiate: bool = False) -> Credential | None:
    """The credential in one ``Authorization`` value; None for no (or an empty) header."""
    if not header:
        return None
    if negotiate:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == NEGOTIATE_SCHEME:
            return parse_negotiate(token.strip())
    if len(header) > MAX_AUTHORIZATION_HEADER:
        raise InvalidCredentials("Authorization header over 8 KiB", reason=reasons.MALFORMED_HEADER)
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        secret = rest.strip()
        if not looks_like_secret(secret):
            raise InvalidCredentials(
                "a Bearer credential that is not a token", reason=reasons.NOT_A_TOKEN
            )
        return TokenCredential(secret)
    if scheme.lower() != "basic" or not rest.strip():
        raise InvalidCredentials("not HTTP Basic", reason=reasons.MALFORMED_HEADER)
    login, password = _basic_pair(rest.strip())
    if mentions_secret(login):
        return TokenCredential(login.strip())
    if looks_like_secret(password):
        return TokenCredential(password, claimed_owner=login)
    return PasswordCredential(login, password)


def _basic_pair(encoded: str) -> tuple[str, str]:
    """``base64(user:password)`` -> (user, password); ``InvalidCredentials`` otherwise."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidCredentials(
            "bad base64 or not UTF-8", reason=reasons.MALFORMED_HEADER
        ) from None
    login, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidCredentials("no colon in credentials", reason=reasons.MALFORMED_HEADER)
    if _CONTROL_CHARACTER.search(login):
        raise InvalidCredentials("control character in username", reason=reasons.MALFORMED_USERNAME)
    return login, password


def parse_negotiate(encoded: str) -> NegotiateCredential:
    """The token of ``Negotiate <base64>``; ``malformed_negotiate`` for an empty, over-long
    or not-base64 one."""
    if not encoded or len(encoded) > MAX_NEGOTIATE_TOKEN:
        raise InvalidCredentials(
            "Negotiate token empty or over 64 KiB", reason=reasons.MALFORMED_NEGOTIATE
        )
    try:
        token = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCredentials(
            "Negotiate token not base64", reason=reasons.MALFORMED_NEGOTIATE
        ) from None
    if not token:
        raise InvalidCredentials("empty Negotiate token", reason=reasons.MALFORMED_NEGOTIATE)
    return NegotiateCredential(token)
