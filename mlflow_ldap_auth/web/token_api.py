"""REST API of access tokens under ``/api/2.0/mlflow/ldap-auth/tokens``.

Documented in docs/reference/rest-api.md#access-tokens.

| method, path        | does                                                        |
|---------------------|-------------------------------------------------------------|
| POST   /tokens      | ``{"name", "expires_in_days"}`` -> ``{"token", "secret"}``  |
| GET    /tokens      | own tokens; admins: ``?user=NAME`` or ``?all=true``; paged: |
|                     | ``page_token``, ``max_results`` -> ``{"tokens",             |
|                     | "next_page_token"}`` (None on the last page)                |
| DELETE /tokens/<id> | revoke (owner or admin) -> ``{"token": {...}}``             |

Open to every authenticated user (``admin_guard`` lets these paths through without the
admin check); the rules are ``tokens.service``'s. Errors in MLflow's JSON format; a
creation beyond the per-user rate is a 429 with ``Retry-After``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.errors import InvalidRequest
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.authn import current_principal
from mlflow_ldap_auth.web.http_answers import install_error_answers
from mlflow_ldap_auth.web.rest_api import API_PREFIX, json_body

TOKENS_PATH = API_PREFIX + "/tokens"

blueprint = Blueprint("ldap_auth_tokens_api", __name__, url_prefix=TOKENS_PATH)
install_error_answers(blueprint)


def flag(value: str | None) -> bool:
    """A yes/no query parameter (`?all=true`); anything else is a 400 naming it."""
    if value is None:
        return False
    if value.strip().lower() in ("true", "1", "yes"):
        return True
    if value.strip().lower() in ("false", "0", "no", ""):
        return False
    raise InvalidRequest(f"'all' must be true or false, got {value!r}")


@blueprint.post("")
@catch_mlflow_exception
def create_token():
    body = json_body({"name", "expires_in_days"})
    record, secret = current_plugin().token_service.create(
        current_principal(), body.get("name"), body.get("expires_in_days"), request.remote_addr
    )
    return jsonify({"token": record.to_json(), "secret": secret})


def paged_list(key: str, service) -> Response:
    """One page of ``service``'s list as the query asks (``user``, ``all``, ``page_token``,
    ``max_results``): ``{key: [...], "next_page_token"}``; tokens' and sessions' lists."""
    records, next_page_token = service.page(
        current_principal(),
        user=request.args.get("user") or None,
        everyone=flag(request.args.get("all")),
        page_token=request.args.get("page_token"),
        max_results=request.args.get("max_results"),
    )
    return jsonify(
        {key: [record.to_json() for record in records], "next_page_token": next_page_token}
    )


@blueprint.get("")
@catch_mlflow_exception
def list_tokens():
    return paged_list("tokens", current_plugin().token_service)


@blueprint.delete("/<token_id>")
@catch_mlflow_exception
def revoke_token(token_id: str):
    record = current_plugin().token_service.revoke(
        current_principal(), token_id, request.remote_addr
    )
    return jsonify({"token": record.to_json()})
