"""REST API of sign-in sessions under ``/api/2.0/mlflow/ldap-auth/sessions``.

Documented in docs/reference/rest-api.md#sessions.

| method, path                | does                                                     |
|-----------------------------|----------------------------------------------------------|
| GET    /sessions            | own live sessions; admins: ``?user=NAME`` or ``?all=true``; |
|                             | paged: ``page_token``, ``max_results`` -> ``{"sessions",  |
|                             | "next_page_token"}`` (None on the last page)             |
| DELETE /sessions/<id>       | end one (owner or admin) -> ``{"session": {...}}``       |
| DELETE /sessions?user=NAME  | end all of NAME's (own, or anyone's for admins) ->        |
|                             | ``{"sessions": [...]}``, the sessions this call ended    |

A session is shown by its handle ``id`` (``SessionRecord.to_json``), never by its
secret. Open to every authenticated user (``admin_guard`` lets these paths through
without the admin check); the rules are ``sessions.service``'s. Errors in MLflow's JSON
format.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.authn import current_principal
from mlflow_ldap_auth.web.http_answers import install_error_answers
from mlflow_ldap_auth.web.rest_api import API_PREFIX
from mlflow_ldap_auth.web.token_api import paged_list

SESSIONS_PATH = API_PREFIX + "/sessions"

blueprint = Blueprint("ldap_auth_sessions_api", __name__, url_prefix=SESSIONS_PATH)
install_error_answers(blueprint)


@blueprint.get("")
@catch_mlflow_exception
def list_sessions():
    return paged_list("sessions", current_plugin().session_service)


@blueprint.delete("/<session_id>")
@catch_mlflow_exception
def end_session(session_id: str):
    record = current_plugin().session_service.end(
        current_principal(), session_id, request.remote_addr
    )
    return jsonify({"session": record.to_json()})


@blueprint.delete("")
@catch_mlflow_exception
def end_sessions():
    ended = current_plugin().session_service.end_all(
        current_principal(), request.args.get("user"), request.remote_addr
    )
    return jsonify({"sessions": [record.to_json() for record in ended]})
