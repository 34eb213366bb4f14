"""``GET /api/2.0/mlflow/ldap-auth/activity``: the activity table, admins only.

Documented in docs/reference/rest-api.md#activity and docs/operations.md#activity.

Query parameters ``user``, ``result``, ``reason``, ``event``, ``since``, ``until``,
``page_token``, ``max_results`` (``activity.store``); the answer is
``{"records": [...], "next_page_token"}``, newest first. An unknown parameter or a bad
value is a 400 in MLflow's error format; with ``audit_retention_days = 0`` there is no
table, and the answer is a 404 that says so. ``admin_guard`` lets only MLflow admins
reach it (the path is under the API prefix and is not a self-service one).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.activity.store import FILTERS
from mlflow_ldap_auth.errors import InvalidRequest, NotFound
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.http_answers import install_error_answers
from mlflow_ldap_auth.web.rest_api import API_PREFIX

ACTIVITY_PATH = API_PREFIX + "/activity"
OFF_MESSAGE = "the activity table is off ([ldap] audit_retention_days = 0)"

blueprint = Blueprint("ldap_auth_activity_api", __name__, url_prefix=ACTIVITY_PATH)
install_error_answers(blueprint)


@blueprint.get("")
@catch_mlflow_exception
def activity():
    unknown = sorted(set(request.args) - set(FILTERS))
    if unknown:
        raise InvalidRequest(f"unknown parameter(s) {unknown}; known: {list(FILTERS)}")
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise InvalidRequest(f"parameter(s) given twice: {repeated}")
    recorded = current_plugin().activity
    if recorded is None:
        raise NotFound(OFF_MESSAGE)
    return jsonify(recorded.store.search(**{name: request.args.get(name) for name in FILTERS}))
