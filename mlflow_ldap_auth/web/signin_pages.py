"""``/ldap-auth/login`` and ``/ldap-auth/logout``: sign-in page, sign-out (docs/signing-in.md).

The page is server-rendered in the admin page's look (``templates/ldap_admin/signin.html``,
``static/admin.css``), a flask-wtf form with a CSRF token, and works without
JavaScript. A ``POST`` checks the password through exactly the login Basic uses
(``LoginService.login``: every spelling Basic accepts, the spraying guard, the negative
cache, the audit; its ``login`` line says ``"method": "session_sign_in"``), then opens
a session (``SessionAuthenticator.sign_in``, with the password marker of the check the
login made) and answers ``303`` to ``next`` with the cookie ``mlflow_ldap_session``:
``HttpOnly``, ``SameSite=Lax``, ``Path=/`` (the whole host, also under
``--static-prefix``: one cookie for one server), ``Max-Age`` the session's absolute
lifetime, and ``Secure`` exactly when the Flask session cookie is (HTTPS directly or per
``X-Forwarded-Proto``: ``session_cookie``). A cookie the browser sent before is never
kept: every sign-in makes a new secret, and the session of the old one is ended.

Refusals are the page again, never a Basic challenge: wrong password, unknown user and
throttled say one thing (``401``); an account outside ``allowed_groups`` what Basic
says (``403``); an outage "the directory is unavailable" (``503``, ``Retry-After``). A
token secret typed as the username or password never reaches the directory (Basic
would take it as a token; the page signs in with directory passwords only), nor does
the break-glass admin get a session: it is checked against MLflow's store, not the
directory, and a session is revalidated with the directory; it uses HTTP Basic.

``POST /ldap-auth/logout`` (CSRF token) ends the session of the cookie everywhere
(``SessionAuthenticator.sign_out``), clears the cookie and answers ``303`` to the page;
without a live session it does the same. A ``GET`` signs nobody out (``405``: a link
any page can make a browser follow must not end a session).

MLflow's permission hook answers every route it does not know, so ``install`` runs
these views from a hook ahead of it, as ``admin_guard`` runs the self-service pages.
With ``login_page = false`` the page answers ``404``; sign-out keeps working.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, redirect, request, url_for

from mlflow_ldap_auth.auth.login import LOCAL_ADMIN_METHOD, SESSION_SIGN_IN_METHOD
from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, NotAllowed
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.tokens.secret_format import looks_like_secret, mentions_secret
from mlflow_ldap_auth.web.admin_base import SECURITY_HEADERS, error_page
from mlflow_ldap_auth.web.admin_guard import within_prefix
from mlflow_ldap_auth.web.credentials import SESSION_COOKIE
from mlflow_ldap_auth.web.http_answers import RETRY_AFTER_SECONDS
from mlflow_ldap_auth.web.navigation import SIGN_IN_PATH, SIGN_OUT_PATH, safe_next
from mlflow_ldap_auth.web.signin_form import (
    NOT_ALLOWED,
    REFUSED,
    UNAVAILABLE,
    SignInForm,
    cookie_is_secure,
    open_session,
    page,
)

URL_PREFIX = "/ldap-auth"
#: Longest username and password the page passes on (longer: refused, as Basic's 8 KiB).
MAX_LOGIN_CHARS = 1024
MAX_PASSWORD_CHARS = 4096

BREAK_GLASS = "The break-glass admin does not sign in here: use HTTP Basic (MLflow's client, curl)."
EXPIRED_FORM = "The form expired; sign in again."

blueprint = Blueprint("ldap_signin", __name__, url_prefix=URL_PREFIX)


@blueprint.after_request
def security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@blueprint.get("/login")
def sign_in_page():
    form = SignInForm()
    form.next.data = safe_next(request.args.get("next"), static_prefix())
    return page(form)


@blueprint.post("/login")
def sign_in():
    form = SignInForm()
    form.next.data = safe_next(form.next.data, static_prefix())
    if not form.validate_on_submit():
        return page(form, 400, EXPIRED_FORM)
    login, password = form.username.data or "", form.password.data or ""
    if (
        len(login) > MAX_LOGIN_CHARS
        or len(password) > MAX_PASSWORD_CHARS
        or mentions_secret(login)
        or looks_like_secret(password)
    ):
        return page(form, 401, REFUSED)
    plugin = current_plugin()
    service = plugin.login_service
    source = request.remote_addr or None
    try:
        principal = service.login(login, password, source, method=SESSION_SIGN_IN_METHOD)
    except AuthError as error:
        service.audit_refusal(login, source, error, method=SESSION_SIGN_IN_METHOD)
        if isinstance(error, DirectoryUnavailable):
            return page(form, 503, UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        if isinstance(error, NotAllowed):
            return page(form, 403, NOT_ALLOWED)
        return page(form, 401, REFUSED)
    if principal.method == LOCAL_ADMIN_METHOD:
        return page(form, 403, BREAK_GLASS)
    response = redirect(form.next.data, 303)
    open_session(response, principal.username, source)  # a cookie sent before is ended
    return response


@blueprint.post("/logout")
def sign_out():
    form = SignInForm()
    if not form.validate_on_submit():
        return error_page(400, "Form expired or forged", EXPIRED_FORM)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        current_plugin().sessions.sign_out(secret, request.remote_addr or None)
    # Without the page (login_page = false) to MLflow's home, where the browser asks
    # for a password again, rather than to a page that answers 404.
    if current_plugin().settings.ldap.login_page:
        response = redirect(url_for(".sign_in_page", signed_out="1"), 303)
    else:
        response = redirect(static_prefix() + "/", 303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=cookie_is_secure(), httponly=True, samesite="Lax"
    )
    return response


def _dispatch():
    """Run the matched view now (MLflow's hook, next, would deny the route)."""
    if request.routing_exception is not None:
        raise request.routing_exception  # 404 / 405, as Flask would answer
    assert request.url_rule is not None  # routing matched: no routing exception
    view = current_app.view_functions[request.url_rule.endpoint]
    return current_app.ensure_sync(view)(**(request.view_args or {}))


def install(app: Flask) -> None:
    prefix = static_prefix()

    def serve_ours():
        path = within_prefix(request.path, prefix)
        if path not in (SIGN_IN_PATH, SIGN_OUT_PATH):
            return None
        if path == SIGN_IN_PATH and not current_plugin().settings.ldap.login_page:
            return error_page(404, "Not found", "This server has no sign-in page.")
        response = current_app.make_response(_dispatch())
        response.headers["Cache-Control"] = "no-store"
        return response

    app.before_request(serve_ours)
