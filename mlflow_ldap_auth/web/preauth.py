"""Authentication for MLflow's native FastAPI routes, off the event loop.

MLflow serves ``/v1/traces``, artifacts, the AI gateway, jobs and MCP routes from
FastAPI directly; its permission middleware calls the ``authorization_function``
*synchronously inside an async function*. A directory round trip there (a cold login,
a slow or hung DC) would freeze every request of that worker, ``/health`` included.

So this ASGI middleware, wrapped around MLflow's, answers first for exactly the
requests MLflow's middleware will authenticate: a password already in the credential
cache is answered on the loop (a dictionary look-up and one HMAC), anything else in a
worker thread (its own capacity limiter, so hung logins never starve the threads that
serve the Flask routes). The answer travels to ``authn.authenticate_request`` in a
context variable, written at the start of every request (None when there is no
answer) and put back when it ends: a task that began with another request's context
(uvicorn starts a pipelined request from inside the one before it) never keeps that
request's answer. The answer also names the credentials MLflow will see on this
request, and is taken only for those.

``/gateway/``: MLflow forwards the client's headers to the LLM provider (for coding
agents their ``Authorization``, ``x-api-key`` and the like too). Before the request
reaches the gateway handlers, every header that may carry an MLflow credential is
removed: ``X-MLflow-Authorization``, Basic credentials in ``Authorization`` (a
directory password), any header holding one of our access tokens (``mldap_...``)
in any form: any scheme, bare, or inside Basic credentials, and ``Cookie``: the
session cookie ``mlflow_ldap_session`` is a credential, and every cookie a browser
sends here is this server's (the Flask session's CSRF token too), none the provider's.
A provider key is none of these and goes through; ``Authorization: Negotiate`` (a
Kerberos ticket for this server) is ours too and removed. This way a password, token
or session sent there is used to log in (it was read before the removal), and never
leaves the server.

A check that accepted a Kerberos ticket leaves the mutual-authentication token
(``negotiate_answers``); the route's answer gets it as ``WWW-Authenticate``.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from flask import Flask, g
from werkzeug.datastructures import Authorization, Headers, MultiDict
from werkzeug.sansio.http import parse_cookie

from mlflow_ldap_auth.mlflow_compat.path_memo import remembered_by_route
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.tokens.secret_format import mentions_secret
from mlflow_ldap_auth.web import authn, credentials, negotiate_answers

#: Concurrent fresh checks per worker; more wait (asynchronously) for a free slot.
MAX_CONCURRENT_CHECKS = 16


class PreAuthMiddleware:
    def __init__(
        self,
        app,
        flask_app: Flask,
        will_authenticate: Callable[[str, str], bool],
    ) -> None:
        self.app = app
        self.flask_app = flask_app
        self.limiter = anyio.CapacityLimiter(MAX_CONCURRENT_CHECKS)

        def route(path: str, method: str) -> tuple[bool, bool]:
            """(a gateway route: our credentials are stripped; MLflow's middleware will
            authenticate the request), per path and method, as each request asks."""
            is_gateway = credentials.route_path(path).startswith(credentials.GATEWAY_PREFIX)
            return is_gateway, will_authenticate(path, method)

        self._route = remembered_by_route(route)

    async def __call__(self, scope, receive, send):
        # Never an answer computed for another request, whatever this task inherited.
        token = authn.preauthenticated.set(None)
        try:
            if scope["type"] == "http":
                scope = await self._preauthenticate(scope)
                computed = authn.preauthenticated.get()
                if computed is not None and computed.reply_headers:
                    send = _adding_headers(send, computed.reply_headers)
            return await self.app(scope, receive, send)
        finally:
            authn.preauthenticated.reset(token)

    async def _preauthenticate(self, scope: dict) -> dict:
        """The scope to pass on; this request's answer set, if MLflow will ask for one."""
        path, method = scope.get("path", ""), scope.get("method", "GET")
        passed_on = scope
        is_gateway, will_authenticate = self._route(path, method)
        if is_gateway:
            passed_on = _without_our_credentials(scope)
        if will_authenticate:
            headers = _headers(scope)
            answer, reply_headers = await self._answer(scope, path, method, headers)
            seen_by_mlflow = headers if passed_on is scope else _headers(passed_on)
            source = credentials.credential_source(path, seen_by_mlflow, _cookies(seen_by_mlflow))
            authn.preauthenticated.set(
                authn.Preauthenticated(answer, authn.credentials_digest(source), reply_headers)
            )
        return passed_on

    async def _answer(self, scope, path: str, method: str, headers: Headers):
        plugin = current_plugin(self.flask_app)
        cached = authn.cached_principal(plugin, path, method, headers, _cookies(headers))
        if cached is not None:
            return Authorization("basic", {"username": cached.username}), ()
        client = scope.get("client")
        address = client[0] if client else None
        query = scope.get("query_string", b"").decode("latin-1")
        scheme = scope.get("scheme", "http")
        return await anyio.to_thread.run_sync(
            self._check, path, method, headers, query, address, scheme, limiter=self.limiter
        )

    def _check(
        self,
        path: str,
        method: str,
        headers: Headers,
        query: str,
        address: str | None,
        scheme: str,
    ):
        with self.flask_app.test_request_context(
            path=path,
            method=method,
            headers=headers,
            query_string=query,
            environ_base={"REMOTE_ADDR": address or ""},
            # The scheme the server saw (after its trusted proxy headers), as a Flask
            # request has it: the cross-site rule compares the Origin with it.
            environ_overrides={"wsgi.url_scheme": scheme},
        ):
            answer = authn.check_current_request()
            signed_in = g.get(negotiate_answers.SIGNED_IN)
            header = negotiate_answers.reply_header(signed_in) if signed_in else None
            return answer, (("WWW-Authenticate", header),) if header else ()


def _adding_headers(send, headers: tuple[tuple[str, str], ...]):
    """``send`` that adds ``headers`` to the answer's start (the mutual token)."""
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]

    async def sending(message):
        if message.get("type") == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *raw]}
        await send(message)

    return sending


def _headers(scope: dict) -> Headers:
    """The request's headers as MLflow's middleware hands them to the authorization
    function (``dict(request.headers)``: the first of each name), so that the answer
    computed here and the credential it names are those MLflow's own check would see."""
    headers = Headers()
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1")
        if name not in headers:
            headers.add(name, raw_value.decode("latin-1"))
    return headers


def _cookies(headers: Headers) -> MultiDict[str, str]:
    """The request's cookies, read as a Flask request reads them (any bytes)."""
    return parse_cookie(";".join(headers.getlist("Cookie")))


_GATEWAY_AUTH_HEADER = credentials.GATEWAY_AUTH_HEADER.lower().encode("latin-1")


def _is_ours(name: bytes, value: bytes) -> bool:
    """A header that carries an MLflow credential: never for an LLM provider."""
    name = name.lower()
    if name in (_GATEWAY_AUTH_HEADER, b"cookie"):
        return True
    text = value.decode("latin-1")
    if mentions_secret(text):
        return True
    scheme = text.strip().partition(" ")[0].lower()
    if scheme == credentials.NEGOTIATE_SCHEME and name == b"authorization":
        return True  # a Kerberos ticket for this server
    if scheme != "basic":
        return False
    if name == b"authorization":
        return True  # a directory password, or what looks like one
    basic = Authorization.from_header(text)
    return basic is not None and mentions_secret(f"{basic.username}:{basic.password}")


def _without_our_credentials(scope: dict) -> dict:
    headers = scope.get("headers") or []
    kept = [(name, value) for name, value in headers if not _is_ours(name, value)]
    if len(kept) == len(headers):
        return scope
    return {**scope, "headers": kept}
