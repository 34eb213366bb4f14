"""``GET /api/2.0/mlflow/ldap-auth/me``: who the request is signed in as, and where to go.

The answer the bar in MLflow's own pages shows (``mlflow_bar``, ``static/mlflow-bar.js``;
docs/clients.md#inside-mlflows-pages)::

    {"user": "alice", "is_admin": false,
     "links": {"tokens": "/ldap-admin/tokens/", "admin": null},
     "sign_out": {"action": "/ldap-auth/logout", "csrf_token": "..."}}

Addresses are ``url_for``'s, so they carry the server's ``--static-prefix``; ``admin`` is
null for a non-admin (whether someone is an admin is MLflow's ``is_admin`` flag, read
as ``admin_guard`` reads it). ``sign_out`` is the form a person signed in by a session
signs out with, null for everyone else (``sign_out_form``); the bar shows a *Sign out*
button exactly when it is set. The answer names no credential, no DN, no token or
session id, and is ``no-store`` (as every path of the plugin: ``admin_guard``); the
CSRF token is bound to the browser's Flask session cookie, which this answer sets.

Open to every authenticated user: ``admin_guard`` authenticates it (an unauthenticated
request gets the same 401 as any MLflow API call) and dispatches it as a self-service
path, ahead of MLflow's hook, which denies non-admins routes it has no validator for.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from flask_wtf.csrf import generate_csrf

from mlflow_ldap_auth.auth.login import SESSION_METHOD
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.authn import current_principal
from mlflow_ldap_auth.web.http_answers import install_error_answers, unauthenticated
from mlflow_ldap_auth.web.rest_api import API_PREFIX

ME_PATH = API_PREFIX + "/me"

blueprint = Blueprint("ldap_auth_me_api", __name__, url_prefix=ME_PATH)
install_error_answers(blueprint)


def sign_out_form(principal: Principal) -> dict | None:
    """The sign-out form the bar offers ``principal``, or None.

    The one place that decides whether the bar offers *Sign out*: a person signed in by
    a session (``principal.method`` is ``auth.login.SESSION_METHOD``) gets
    the form's target and a CSRF token, and the bar posts it (a link would be a ``GET``,
    which any page can make a browser follow: signing out takes a ``POST`` with the
    token). HTTP Basic credentials and tokens cannot be signed out of (the browser or
    client keeps sending them), so they get None.
    """
    if principal.method != SESSION_METHOD:
        return None
    return {"action": url_for("ldap_signin.sign_out"), "csrf_token": generate_csrf()}


@blueprint.get("")
def who_am_i():
    principal = current_principal()
    if principal is None:  # admin_guard authenticated the request before dispatching it
        return unauthenticated()
    is_admin = current_plugin().store.get_user(principal.username).is_admin
    return jsonify(
        {
            "user": principal.username,
            "is_admin": is_admin,
            "links": {
                "tokens": url_for("ldap_tokens.tokens_page"),
                "admin": url_for("ldap_admin.mappings_page") if is_admin else None,
            },
            "sign_out": sign_out_form(principal),
        }
    )
