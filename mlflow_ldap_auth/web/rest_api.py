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

The answers the admin page gives too (a user explained, the status) are built in
``admin_reports``. Access is checked by ``admin_guard`` (installed by the app factory
ahead of MLflow's own hook, so a non-admin gets a JSON 403 in MLflow's format rather
than plain text).
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, jsonify, request
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.errors import AuthError, InvalidRequest, Unavailable
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE
from mlflow_ldap_auth.plugin import Plugin, current_plugin
from mlflow_ldap_auth.web.admin_reports import actor, explain_user, status_report
from mlflow_ldap_auth.web.http_answers import install_error_answers

_logger = logging.getLogger(__name__)

API_PREFIX = "/api/2.0/mlflow/ldap-auth"

blueprint = Blueprint("ldap_auth_api", __name__, url_prefix=API_PREFIX)
install_error_answers(blueprint)


def _service() -> Plugin:
    return current_plugin()


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
        raise InvalidRequest("the body must be a JSON object")
    unknown = set(body) - fields
    if unknown:
        raise InvalidRequest(f"unknown field(s): {sorted(unknown)}")
    return body


@blueprint.post("/group-mappings")
@catch_mlflow_exception
def create_group_mapping():
    body = json_body(
        {"group", "group_uuid", "resource_type", "resource_pattern", "permission", "workspace"}
    )
    group_uuid = body.get("group_uuid")
    if group_uuid is not None and not isinstance(group_uuid, str):
        raise InvalidRequest("'group_uuid' must be a string")
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
        raise Unavailable(f"directory unavailable: {exc}") from None
    return jsonify(answer.to_json())


@blueprint.post("/cache/flush")
@catch_mlflow_exception
def flush_cache():
    service = _service()
    service.flush_caches()
    return jsonify({"flushed": True, "worker": os.getpid()})


@blueprint.get("/status")
@catch_mlflow_exception
def status():
    return jsonify(status_report(_service()))
