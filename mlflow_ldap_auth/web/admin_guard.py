"""The gate in front of the plugin's own routes (REST API and admin page).

Installed as a ``before_request`` hook *ahead of* MLflow's, so the answers fit the
route: JSON in MLflow's error format for the API, HTML pages for ``/ldap-admin``
(a 401 keeps its Basic challenge, a 503 its ``Retry-After``; a browser navigation
without credentials goes to the sign-in page, ``navigation``). In order:

1. a request whose ``Origin`` is not this server's own is refused (403) before any
   credential is looked at: MLflow's default CORS policy lets any ``http://localhost:*``
   page send credentialed requests, and a browser adds the admin's Basic credentials
   to them by itself;
2. the caller must authenticate and be an MLflow admin (the break-glass admin, members
   of admin groups; MLflow's own ``is_admin`` flag decides) -- except on the
   self-service paths (the tokens, ``/api/2.0/mlflow/ldap-auth/tokens`` and
   ``/ldap-admin/tokens``, and who am I, ``/api/2.0/mlflow/ldap-auth/me``), open to
   every authenticated user. Those views are
   dispatched from here, because MLflow's fail-closed hook, next, would deny a
   non-admin on a route it has no validator for; the views apply the token rules
   themselves (``tokens.service``).

Under ``mlflow server --static-prefix /mlflow`` these paths live under the prefix, as
MLflow's own routes do (``/mlflow/ldap-admin/``, ``/mlflow/api/2.0/mlflow/ldap-auth/``):
the guard looks at the path inside the prefix, and a path outside it (``/ldap-admin/``)
is none of the plugin's: no view is registered there, and MLflow's hook answers it.

Every answer on these paths carries ``Cache-Control: no-store``: they show who may do
what, and a shared proxy or the browser's disk cache must not keep that. And they read
MLflow's store past the worker's permission cache: an administrator sees the state of
the database, not a worker's memory of it.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from mlflow_ldap_auth.errors import Forbidden
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.admin_ui import URL_PREFIX as UI_PREFIX
from mlflow_ldap_auth.web.admin_ui import blueprint as admin_blueprint
from mlflow_ldap_auth.web.admin_ui import error_page
from mlflow_ldap_auth.web.authn import authenticate_request
from mlflow_ldap_auth.web.http_answers import guard_answer
from mlflow_ldap_auth.web.origins import is_same_origin
from mlflow_ldap_auth.web.rest_api import API_PREFIX
from mlflow_ldap_auth.web.whoami_api import ME_PATH

#: The tokens and sessions (REST, and the page that lists both), and who am I.
SELF_SERVICE_PREFIXES = (
    API_PREFIX + "/tokens",
    API_PREFIX + "/sessions",
    UI_PREFIX + "/tokens",
    ME_PATH,
)

_TITLES = {
    401: ("Log in", "Log in with your directory username and password (MLflow admins only)."),
    503: ("Directory unavailable", "The login directory (LDAP) is unavailable; try again shortly."),
}
_KEPT_HEADERS = ("WWW-Authenticate", "Retry-After")


def _html_version(answer: Response) -> Response:
    title, message = _TITLES.get(answer.status_code, ("Refused", "Access refused."))
    headers = {k: answer.headers[k] for k in _KEPT_HEADERS if k in answer.headers}
    return error_page(answer.status_code, title, message, headers)


STATIC_PREFIX = UI_PREFIX + "/static/"


def within_prefix(path: str, prefix: str) -> str | None:
    """``path`` with the server's ``--static-prefix`` (``prefix``, "" for none) taken
    off; None for a path outside the prefix."""
    if not prefix:
        return path
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return None


def is_plugin_path(path: str | None) -> tuple[bool, bool]:
    """(is one of the plugin's paths, is a page of the admin UI), for a path inside the
    server's prefix (``within_prefix``; None: outside it, never the plugin's)."""
    if path is None:
        return False, False
    is_ui = path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
    return is_ui or path.startswith(API_PREFIX + "/"), is_ui


def is_self_service_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in SELF_SERVICE_PREFIXES)


def _dispatch_self_service():
    """Run the matched view now (skipping MLflow's hook; see the module docstring)."""
    if request.routing_exception is not None:
        raise request.routing_exception  # 404 / 405, as Flask would answer
    assert request.url_rule is not None  # routing matched: no routing exception
    view = current_app.view_functions[request.url_rule.endpoint]
    return current_app.ensure_sync(view)(**(request.view_args or {}))


def _forbidden(is_ui: bool, title: str, message: str) -> Response:
    if is_ui:
        return error_page(403, title, message)
    return guard_answer(Forbidden(message))


def install(app: Flask) -> None:
    prefix = static_prefix()

    def check():
        path = within_prefix(request.path, prefix)
        is_ours, is_ui = is_plugin_path(path)
        if not is_ours:
            return None
        assert path is not None  # a path outside the prefix is never the plugin's
        if path.startswith(STATIC_PREFIX):
            # The stylesheet and script are public (the 401/403 pages need them too), and
            # served here: MLflow's own hook, next, denies routes it does not know.
            return admin_blueprint.send_static_file(path[len(STATIC_PREFIX) :])
        origin = request.headers.get("Origin")
        if origin is not None and not is_same_origin(origin, request.host, request.scheme):
            return _forbidden(
                is_ui,
                "Cross-origin request refused",
                f"Requests from {origin!r} to the ldap-auth administration are refused; "
                "use this server's own pages or a non-browser client.",
            )
        result = authenticate_request()
        if isinstance(result, Response):
            # A browser navigation: to the sign-in page, or (Kerberos) the page itself as
            # the body of the 401 Negotiate challenge.
            if result.status_code == 303 or result.mimetype == "text/html":
                return result
            return _html_version(result) if is_ui else result
        plugin = current_plugin()
        if plugin.permission_cache is not None:
            plugin.permission_cache.bypass(True)
        if is_self_service_path(path):
            return _dispatch_self_service()
        if plugin.store.get_user(result.username).is_admin:
            return None
        if is_ui:
            return error_page(
                403,
                "Admins only",
                "This page is for MLflow administrators only.",
                user=result.username,
            )
        return _forbidden(
            False, "Admins only", "Only MLflow admins may use the ldap-auth administration API."
        )

    def no_store(response: Response) -> Response:
        if is_plugin_path(within_prefix(request.path, prefix))[0]:
            response.headers["Cache-Control"] = "no-store"
        return response

    def stop_bypassing(_error=None) -> None:
        cache = current_plugin().permission_cache
        if cache is not None:
            cache.bypass(False)

    app.before_request(check)
    app.after_request(no_store)
    app.teardown_request(stop_bypassing)
