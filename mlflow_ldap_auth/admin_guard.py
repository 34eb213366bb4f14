"""Only MLflow admins reach the plugin's own routes (REST API and admin page).

Installed as a ``before_request`` hook *ahead of* MLflow's, so the answers fit the
route: JSON in MLflow's error format for the API, HTML pages for ``/ldap-admin``
(a 401 keeps its Basic challenge, a 503 its ``Retry-After``). The break-glass admin and
members of admin groups are admins; MLflow's own ``is_admin`` flag decides.
"""

from __future__ import annotations

import json

from flask import Flask, Response, current_app, request

from mlflow_ldap_auth.admin_ui import URL_PREFIX as UI_PREFIX
from mlflow_ldap_auth.admin_ui import error_page
from mlflow_ldap_auth.authn import EXTENSION, authenticate_request
from mlflow_ldap_auth.rest_api import API_PREFIX

_TITLES = {
    401: ("Log in", "Log in with your directory username and password (MLflow admins only)."),
    503: ("Directory unavailable", "The login directory (LDAP) is unavailable; try again shortly."),
}
_KEPT_HEADERS = ("WWW-Authenticate", "Retry-After")


def _html_version(answer: Response) -> Response:
    title, message = _TITLES.get(answer.status_code, ("Refused", "Access refused."))
    headers = {k: answer.headers[k] for k in _KEPT_HEADERS if k in answer.headers}
    return error_page(answer.status_code, title, message, headers)


def install(app: Flask) -> None:
    def check():
        path = request.path
        is_ui = path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
        if not (is_ui or path.startswith(API_PREFIX + "/")):
            return None
        result = authenticate_request()
        if isinstance(result, Response):
            return _html_version(result) if is_ui else result
        store = current_app.extensions[EXTENSION].store
        if store.get_user(result.username).is_admin:
            return None
        if is_ui:
            return error_page(403, "Admins only", "This page is for MLflow administrators only.")
        body = json.dumps(
            {
                "error_code": "PERMISSION_DENIED",
                "message": "Only MLflow admins may use the ldap-auth administration API.",
            }
        )
        return Response(body, status=403, mimetype="application/json")

    app.before_request(check)
