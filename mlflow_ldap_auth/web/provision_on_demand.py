"""Admins can grant before the first login: MLflow's user APIs provision directory users.

MLflow's ``users/get``, per-user permission and role-assignment APIs answer
``RESOURCE_DOES_NOT_EXIST`` for a user without a row in its store, and a directory user
gets that row only at their first login. So when an MLflow admin names such a user on
one of these routes, the user is looked up in the directory with the service account
and provisioned (admin flag and managed roles exactly as at a login) before MLflow's
own handler runs. A name the directory does not know stays MLflow's 404; while the
directory is down the answer is 503, not a misleading 404.

A name that resolves to a directory entry with the break-glass admin's name (``CORP\\admin``,
``admin@realm``, any case) is refused by the provisioner: the answer is a 400 that says
so (the break-glass admin is named by its own name), one ``user_provisioned`` audit
record with result ``refused``, and MLflow's break-glass row stays as it is.

Registered as a ``before_request`` hook *ahead of* MLflow's, because MLflow's own
validators already need the row; it acts only for callers who are MLflow admins. The
routes, by MLflow's names, are in ``mlflow_compat.user_routes``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.errors import DirectoryUnavailable, NotAllowed
from mlflow_ldap_auth.mlflow_compat.user_routes import user_routes
from mlflow_ldap_auth.plugin import Plugin
from mlflow_ldap_auth.web import http_answers
from mlflow_ldap_auth.web.authn import authenticate_request

_logger = logging.getLogger(__name__)


def target_username() -> str:
    """The ``username`` a user-management request names (JSON body or query string)."""
    data = request.get_json(silent=True) if request.is_json else None
    if isinstance(data, dict) and isinstance(data.get("username"), str):
        return data["username"]
    return request.args.get("username", "")


def install(app: Flask, service: Plugin) -> None:
    routes = user_routes().naming_a_user

    @catch_mlflow_exception
    def provision_named_user():
        if (request.path, request.method) not in routes:
            return None
        username = target_username()
        if not username or service.login_service.is_local_admin_name(username):
            return None
        caller = authenticate_request()
        if isinstance(caller, Response) or not service.store.get_user(caller.username).is_admin:
            return None  # MLflow answers (401/403) as it always does
        if service.store.has_user(username):
            return None
        try:
            user = service.directory.lookup(username)
        except DirectoryUnavailable as error:
            _logger.error("Directory lookup of %r for %s failed: %s", username, request.path, error)
            return http_answers.answer_for(error)
        if user is None:
            return None  # not in the directory: MLflow's 404
        plan = service.sync.plan(user)
        try:
            row = service.provisioner.provision(
                user.username, plan.decision.is_admin, request.remote_addr
            )
        except NotAllowed as refusal:
            audit(
                reasons.USER_PROVISIONED,
                user=user.username,
                source=request.remote_addr,
                result="refused",
                reason=refusal.reason,
                by=caller.username,
                dn=user.dn,
                requested=username,
            )
            raise MlflowException(
                f"{username!r} is the directory entry {user.username!r}, which has the name of "
                "MLflow's break-glass admin ([mlflow] admin_username), so it is not a user "
                "of this server; ask for the break-glass admin by its own name",
                INVALID_PARAMETER_VALUE,
            ) from None
        service.sync.apply(plan, user.username, user_id=row.user_id)
        audit(
            reasons.USER_PROVISIONED,
            user=user.username,
            source=request.remote_addr,
            result="success",
            reason=reasons.ADMIN_REQUEST,
            by=caller.username,
            dn=user.dn,
            admin=row.is_admin,
        )
        return None

    app.before_request(provision_named_user)
