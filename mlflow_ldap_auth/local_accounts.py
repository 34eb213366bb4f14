"""MLflow's local-account routes, adapted to accounts that live in the directory.

* Sign-up and user creation answer a clear error: a directory user appears in MLflow at
  their first login.
* Password updates are refused for everyone but the break-glass admin: directory
  passwords are changed in the directory.
* The admin flag of directory users follows ``admin_groups`` when that is configured,
  so MLflow's update-admin API is refused for them then (it would be undone at the
  next fresh login).

Registered as a ``before_request`` hook *after* MLflow's own, so a caller is
authenticated and authorized by MLflow first.
"""

from __future__ import annotations

import json

from flask import Flask, Response, after_this_request, request
from mlflow.server.auth import routes

_CREATION_ROUTES = {
    (routes.SIGNUP, "GET"),
    (routes.CREATE_USER_UI, "POST"),
    (routes.CREATE_USER, "POST"),
    (routes.AJAX_CREATE_USER, "POST"),
}
_PASSWORD_ROUTES = {routes.UPDATE_USER_PASSWORD, routes.AJAX_UPDATE_USER_PASSWORD}
_ADMIN_FLAG_ROUTES = {routes.UPDATE_USER_ADMIN, routes.AJAX_UPDATE_USER_ADMIN}


def _refuse(message: str) -> Response:
    body = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": message})
    return Response(body, status=400, mimetype="application/json")


def _target_username() -> str:
    data = request.get_json(silent=True) if request.is_json else None
    if isinstance(data, dict) and isinstance(data.get("username"), str):
        return data["username"]
    return request.args.get("username", "")


def install(app: Flask, service) -> None:
    admin_configured = bool(service.settings.ldap.admin_group_dns)

    def guard_local_accounts():
        key = (request.path, request.method)
        if key in _CREATION_ROUTES:
            return _refuse(
                "User accounts come from the LDAP directory: a directory user appears in "
                "MLflow at their first login. There is no local sign-up."
            )
        if request.path in _PASSWORD_ROUTES and request.method == "PATCH":
            if not service.is_local_admin_name(_target_username()):
                return _refuse(
                    "Passwords of directory users are changed in the directory, not in MLflow."
                )

            @after_this_request
            def forget_old_password(response):
                if response.status_code < 400:
                    service.cache.clear()
                return response

        if request.path in _ADMIN_FLAG_ROUTES and request.method == "PATCH" and admin_configured:
            if not service.is_local_admin_name(_target_username()):
                return _refuse(
                    "The admin flag of directory users follows [ldap] admin_groups; "
                    "change the group membership in the directory instead."
                )
        return None

    app.before_request(guard_local_accounts)
