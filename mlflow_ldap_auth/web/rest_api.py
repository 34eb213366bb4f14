"""REST API under ``/api/2.0/mlflow/ldap-auth`` (JSON, MLflow's error format, admins only).

| method, path                          | does                                         |
|---------------------------------------|----------------------------------------------|
| GET    /group-mappings                | ``{"group_mappings": [...]}``                |
| POST   /group-mappings                | create; ``{"group_mapping": {...}}``         |
| DELETE /group-mappings/<id>           | remove; ``{"group_mapping": {...}}`` (gone)  |
| GET    /users/<username>              | directory lookup + what the mappings grant   |
| POST   /cache/flush                   | empty *this worker's* caches                 |
| GET    /status                        | servers, service bind, caches of this worker |
| GET    /access?resource_type=&resource=| who has access to one resource, and why     |

Access is checked by ``admin_guard`` (installed by the app factory ahead of MLflow's
own hook, so a non-admin gets a JSON 403 in MLflow's format rather than plain text).
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.auth.access import applicable
from mlflow_ldap_auth.errors import AuthError
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE
from mlflow_ldap_auth.plugin import Plugin, current_plugin
from mlflow_ldap_auth.web.authn import authenticate_request

_logger = logging.getLogger(__name__)

API_PREFIX = "/api/2.0/mlflow/ldap-auth"

blueprint = Blueprint("ldap_auth_api", __name__, url_prefix=API_PREFIX)


def _service() -> Plugin:
    return current_plugin()


def actor() -> str | None:
    """The username behind the current request (for audit lines)."""
    return getattr(authenticate_request(), "username", None)


@blueprint.get("/group-mappings")
@catch_mlflow_exception
def list_group_mappings():
    mappings = _service().mappings
    try:
        mappings.refresh_group_dns()  # show each group's current DN (renames, moves)
    except AuthError as exc:
        _logger.warning("Group DNs not refreshed, directory unavailable: %s", exc)
    return jsonify({"group_mappings": [m.to_json() for m in mappings.list()]})


def json_body(fields: set[str]) -> dict:
    """The request's JSON object, with no field outside ``fields`` (else a 400)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise MlflowException("the body must be a JSON object", INVALID_PARAMETER_VALUE)
    unknown = set(body) - fields
    if unknown:
        raise MlflowException(f"unknown field(s): {sorted(unknown)}", INVALID_PARAMETER_VALUE)
    return body


@blueprint.post("/group-mappings")
@catch_mlflow_exception
def create_group_mapping():
    body = json_body(
        {"group", "group_uuid", "resource_type", "resource_pattern", "permission", "workspace"}
    )
    group_uuid = body.get("group_uuid")
    if group_uuid is not None and not isinstance(group_uuid, str):
        raise MlflowException("'group_uuid' must be a string", INVALID_PARAMETER_VALUE)
    mapping = _service().mappings.create(
        group=body.get("group"),
        resource_type=body.get("resource_type"),
        permission=body.get("permission"),
        resource_pattern=body.get("resource_pattern", "*"),
        workspace=body.get("workspace", DEFAULT_WORKSPACE),
        group_uuid=group_uuid or None,
        actor=actor(),
    )
    return jsonify({"group_mapping": mapping.to_json()})


@blueprint.delete("/group-mappings/<mapping_id>")
@catch_mlflow_exception
def delete_group_mapping(mapping_id: str):
    mapping = _service().mappings.delete(mapping_id, actor=actor())
    return jsonify({"group_mapping": mapping.to_json()})


def explain_user(service: Plugin, username: str) -> dict:
    """What the directory says about ``username`` and what the mappings give them.

    ``permissions``: per resource the mappings name, the permission MLflow gives the
    person there, folded as *who has access* folds (``WhoHasAccess.granted_to``).
    """
    try:
        user = service.directory.lookup(username)
    except AuthError as exc:
        raise MlflowException(f"directory lookup failed: {exc}", TEMPORARILY_UNAVAILABLE) from None
    if user is None:
        raise MlflowException(f"no user {username!r} in the directory", RESOURCE_DOES_NOT_EXIST)
    mappings = service.mappings.list()
    applying = applicable(mappings, set(user.uuid_by_group_dn.values()))
    decision = service.sync.policy.decide(user)
    return {
        "username": user.username,
        "dn": user.dn,
        "groups": {
            "direct": sorted(user.direct_group_dns),
            "nested": sorted(user.group_dns - user.direct_group_dns),
        },
        "nesting": [{"group": parent, "via": child} for parent, child in user.group_parents],
        "admin": bool(decision.is_admin),
        "admin_follows_directory": decision.is_admin is not None,
        "allowed": decision.allowed,
        "mappings": [m.to_json() for m in applying],
        "permissions": service.access.granted_to(
            user.username, applying, is_admin=bool(decision.is_admin)
        ),
        "default_permission": service.settings.mlflow.default_permission,
    }


@blueprint.get("/users/<path:username>")
@catch_mlflow_exception
def lookup_user(username: str):
    return jsonify({"user": explain_user(_service(), username)})


@blueprint.get("/access")
@catch_mlflow_exception
def who_has_access():
    """Every route to one resource and each person's resulting permission.

    docs/admin-page.md#who-has-access-and-why says what the answer holds.
    """
    try:
        answer = _service().access.answer(
            request.args.get("resource_type"),
            request.args.get("resource"),
            request.args.get("workspace"),
        )
    except AuthError as exc:
        raise MlflowException(f"directory unavailable: {exc}", TEMPORARILY_UNAVAILABLE) from None
    return jsonify(answer.to_json())


@blueprint.post("/cache/flush")
@catch_mlflow_exception
def flush_cache():
    service = _service()
    service.flush_caches()
    return jsonify({"flushed": True, "worker": os.getpid()})


def status_report(service: Plugin) -> dict:
    servers = service.directory.server_status()
    try:
        service.directory.check_service_bind()
        service_bind: dict[str, bool | str | None] = {"ok": True, "error": None}
    except AuthError as exc:
        service_bind = {"ok": False, "error": str(exc)}
    permission_cache = service.permission_cache.status() if service.permission_cache else None
    return {
        "worker": os.getpid(),
        "servers": servers,
        "service_bind": service_bind,
        "cache": service.login_service.cache.status(),
        "group_cache": groups.status() if (groups := service.directory.group_entries) else None,
        "permission_cache": permission_cache,
        "revalidation": service.revalidator.status(),
        "ldap_operations": service.directory.operations.snapshot(),
        "metrics": service.metrics.enabled,
        "activity": service.activity.recorder.stats() if service.activity else None,
    }


@blueprint.get("/status")
@catch_mlflow_exception
def status():
    return jsonify(status_report(_service()))
