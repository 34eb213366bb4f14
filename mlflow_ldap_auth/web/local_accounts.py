"""MLflow's local-account routes, adapted to accounts that live in the directory.

* Sign-up and user creation answer a clear error: a directory user appears in MLflow at
  their first login.
* Password updates are refused for everyone but the break-glass admin: directory
  passwords are changed in the directory.
* The break-glass account (``[mlflow] admin_username``) is changed only by itself:
  its password, admin flag and existence. A directory admin is an MLflow admin too,
  but must not be able to take over or remove the account that works when the
  directory does not. A password change is audited (``break_glass_password_changed``).
* The admin flag of directory users follows ``admin_groups`` / admin mappings when
  those are configured, so MLflow's update-admin API is refused for them then (it
  would be undone at the next fresh login).

Registered as a ``before_request`` hook *after* MLflow's own, so a caller is
authenticated and authorized by MLflow first. The routes, by MLflow's names, are in
``mlflow_compat.user_routes``.
"""

from __future__ import annotations

from flask import Flask, after_this_request, request
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.errors import Forbidden, InvalidRequest
from mlflow_ldap_auth.mlflow_compat.user_routes import user_routes
from mlflow_ldap_auth.plugin import Plugin
from mlflow_ldap_auth.web.authn import authenticate_request
from mlflow_ldap_auth.web.http_answers import guard_answer
from mlflow_ldap_auth.web.provision_on_demand import target_username


def install(app: Flask, service: Plugin) -> None:
    routes = user_routes()

    def admin_flag_follows_directory() -> bool:
        return service.policy.admin_follows_directory()

    # Every other path (nearly every request) is passed on after one look-up.
    guarded_paths = frozenset(
        {path for path, _method in routes.creation}
        | routes.password
        | routes.admin_flag
        | routes.delete
    )

    def guard_local_accounts():
        if request.path not in guarded_paths:
            return None
        key = (request.path, request.method)
        if key in routes.creation:
            return guard_answer(
                InvalidRequest(
                    "User accounts come from the LDAP directory: a directory user appears in "
                    "MLflow at their first login. There is no local sign-up."
                )
            )
        changes_password = request.path in routes.password and request.method == "PATCH"
        changes_flag = request.path in routes.admin_flag and request.method == "PATCH"
        deletes = request.path in routes.delete and request.method == "DELETE"
        if not (changes_password or changes_flag or deletes):
            return None
        target = target_username()
        if service.login_service.is_local_admin_name(target):
            # MLflow's permission hook, installed ahead of this one, answered every
            # request whose credentials it did not accept.
            answer = authenticate_request()
            assert isinstance(answer, Authorization) and answer.username is not None
            actor = answer.username
            if not service.login_service.is_local_admin_name(actor):
                return guard_answer(
                    Forbidden(
                        "Only the break-glass admin itself may change or delete the break-glass "
                        "account."
                    )
                )
            if changes_password:

                @after_this_request
                def audit_rotation(response):
                    if response.status_code < 400:
                        audit(
                            reasons.BREAK_GLASS_PASSWORD_CHANGED,
                            user=actor,
                            source=request.remote_addr,
                            result="success",
                            reason=reasons.API,
                        )
                    return response

            return None
        if changes_password:
            return guard_answer(
                InvalidRequest(
                    "Passwords of directory users are changed in the directory, not in MLflow."
                )
            )
        if changes_flag and admin_flag_follows_directory():
            return guard_answer(
                InvalidRequest(
                    "The admin flag of directory users follows [ldap] admin_groups and admin "
                    "mappings; change the group membership in the directory instead."
                )
            )
        return None

    app.before_request(guard_local_accounts)
