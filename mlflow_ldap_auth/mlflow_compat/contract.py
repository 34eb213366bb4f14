"""Everything of MLflow the plugin relies on beyond its public API, in one list.

``tests/unit/test_mlflow_contract.py`` checks each entry against the installed MLflow
(the symbol exists; a callable takes the named parameters; a constant has the value the
plugin assumes; an entry ``since`` a later release is absent before it, where the
plugin's own fallback stands in), checks the tables and columns ``mlflow_tables`` reads
against MLflow's models, and checks that the permission cache classifies every public
store method. It also scans this subpackage for MLflow private names and MLflow route
names, and fails on one missing here: an upgrade is a matter of running that test, not
of searching the package.
"""

from __future__ import annotations

from typing import NamedTuple


class Symbol(NamedTuple):
    module: str
    #: Attribute path inside ``module``: ``"name"`` or ``"Class.method"``.
    path: str
    #: Parameter names the plugin passes (by position or keyword), in order.
    parameters: tuple[str, ...] = ()
    #: The first MLflow release that has it (None: every supported release). The
    #: plugin uses it only where the release offers it (``resource_types.available``).
    since: str | None = None


_AUTH = "mlflow.server.auth"
_STORE = "mlflow.server.auth.sqlalchemy_store"
_PERMISSIONS = "mlflow.server.auth.permissions"
_TRACKING = "mlflow.store.tracking.sqlalchemy_store"
_REGISTRY = "mlflow.store.model_registry.sqlalchemy_store"

SYMBOLS: tuple[Symbol, ...] = (
    # The auth app and its import-time configuration (bridge).
    Symbol(_AUTH, "auth_config"),
    Symbol(_AUTH, "app"),
    Symbol(_AUTH, "store"),
    Symbol(_AUTH, "create_app", ("app",)),
    Symbol(_AUTH, "bootstrap_admin_user"),
    Symbol(_AUTH, "is_unprotected_route", ("path",)),
    Symbol(_AUTH, "_find_fastapi_validator", ("path", "method")),
    Symbol(_AUTH, "_scope_matches_native_route", ("native_routes", "scope")),
    # Its after-request hook and the route tables it reads (after_request_routes).
    Symbol(_AUTH, "_after_request", ("resp",)),
    Symbol(_AUTH, "AFTER_REQUEST_HANDLERS"),
    Symbol(_AUTH, "PARAMETERIZED_AFTER_REQUEST_HANDLERS"),
    # The FastAPI permission middleware, skipped where it only passes on (permission_middleware).
    Symbol(_AUTH, "add_fastapi_permission_middleware", ("app",)),
    Symbol(_AUTH, "_native_fastapi_routes", ("app",)),
    Symbol("mlflow.server.auth.config", "AuthConfig"),
    Symbol("mlflow.server.auth.config", "read_auth_config"),
    # Permission rules (rules).
    # The resource types and their grain (resource_types.available).
    Symbol(_PERMISSIONS, "TYPE"),
    Symbol(_PERMISSIONS, "PatternKind"),
    Symbol(_PERMISSIONS, "ALL_PERMISSIONS"),
    Symbol(_PERMISSIONS, "PERMISSION_PRIORITY"),
    Symbol(_PERMISSIONS, "_validate_permission_for_resource_type", ("permission", "resource_type")),
    Symbol(_PERMISSIONS, "_validate_resource_pattern", ("resource_pattern", "resource_type")),
    Symbol(_PERMISSIONS, "canonical_resource_id", ("resource_type", "resource_id"), since="3.18"),
    Symbol("mlflow.server.workspace_helpers", "_get_workspace_store"),
    # How MLflow folds one person's grants on one resource (rules, who has access).
    Symbol(_PERMISSIONS, "matches", ("resource_pattern", "resource_type", "resource_id")),
    Symbol(_PERMISSIONS, "GrantLoadKey"),
    Symbol("mlflow.server.auth.requirements", "fold_grants_for_key", ("grants", "key")),
    Symbol("mlflow.server.auth.requirements", "is_workspace_admin_grant", ("grant",)),
    Symbol(
        "mlflow.server.auth.requirements",
        "floor_positive_permission",
        ("perm", "default_permission"),
    ),
    Symbol(_STORE, "RoleGrantRow"),
    Symbol(_STORE, "SqlAlchemyStore._is_synthetic_role_name", ("name",)),
    Symbol(_AUTH, "_workspace_for_resource", ("resource_type", "resource_id")),
    Symbol(_AUTH, "_absent_permission", ("workspace_name",)),
    Symbol(_AUTH, "_resource_dispatch_keys", ("resource_type", "resource_id")),
    Symbol("mlflow.utils.workspace_utils", "DEFAULT_WORKSPACE_NAME"),
    # The names behind resource ids (resource_names): the server's stores.
    Symbol("mlflow.server.handlers", "_get_tracking_store"),
    Symbol("mlflow.server.handlers", "_get_model_registry_store"),
    Symbol(
        _TRACKING,
        "SqlAlchemyStore.search_experiments",
        ("self", "view_type", "max_results", "filter_string", "order_by", "page_token"),
    ),
    Symbol(_TRACKING, "SqlAlchemyStore.get_experiment_by_name", ("self", "experiment_name")),
    Symbol(_TRACKING, "SqlAlchemyStore.list_secret_infos"),
    Symbol(_TRACKING, "SqlAlchemyStore.list_gateway_endpoints"),
    Symbol(_TRACKING, "SqlAlchemyStore.list_gateway_model_definitions"),
    Symbol(
        _TRACKING,
        "SqlAlchemyStore.search_mcp_servers",
        ("self", "filter_string", "max_results", "order_by", "page_token"),
    ),
    Symbol(
        _TRACKING, "SqlAlchemyStore.list_scorers_across_experiments", ("self", "experiment_ids")
    ),
    Symbol(
        _REGISTRY,
        "SqlAlchemyStore.search_registered_models",
        ("self", "filter_string", "max_results", "order_by", "page_token"),
    ),
    Symbol("mlflow.utils.workspace_context", "ServerWorkspaceContext", ("workspace",)),
    Symbol("mlflow.utils.workspace_context", "get_request_workspace"),
    Symbol(_STORE, "SqlAlchemyStore._scorer_pattern", ("experiment_id", "scorer_name")),
    # Model and prompt renames (rename_routes): the RPC's routes, its request, the
    # permission MLflow's rename validator checks first.
    Symbol("mlflow.server.handlers", "get_service_endpoints", ("service", "get_handler")),
    Symbol("mlflow.server.handlers", "_get_request_message", ("request_message",)),
    Symbol(_AUTH, "_validate_can_update_registered_model_or_prompt"),
    # Skills (resource_types): MLflow's key of a skill and its search.
    Symbol(_PERMISSIONS, "_parse_skill_registry_resource_key", ("resource_id",), "3.18"),
    Symbol(_PERMISSIONS, "_format_skill_registry_resource_key", ("organization", "name"), "3.18"),
    Symbol("mlflow.utils.validation", "_validate_skill_name", ("name",), "3.18"),
    Symbol("mlflow.utils.validation", "_validate_organization_name", ("organization",), "3.18"),
    Symbol(
        _TRACKING,
        "SqlAlchemyStore.search_skills",
        (
            "self",
            "filter_string",
            "max_results",
            "order_by",
            "page_token",
            "include_skill_identities",
        ),
        "3.18",
    ),
    Symbol("mlflow.environment_variables", "MLFLOW_ENABLE_WORKSPACES"),
    # MLflow's UI page, whose answer the bar is added to (ui_index: the view's endpoint).
    Symbol("mlflow.server", "serve"),
    # The client (client_base).
    Symbol(
        "mlflow.server.auth.client", "AuthServiceClient._request", ("self", "endpoint", "method")
    ),
    # The store methods the plugin calls, with the parameters it passes.
    Symbol(_STORE, "SqlAlchemyStore._get_active_workspace_name"),
    Symbol(
        _STORE,
        "SqlAlchemyStore.add_role_permission",
        ("self", "role_id", "resource_type", "resource_pattern", "permission"),
    ),
    Symbol(_STORE, "SqlAlchemyStore.assign_role_to_user", ("self", "user_id", "role_id")),
    Symbol(_STORE, "SqlAlchemyStore.authenticate_user", ("self", "username", "password")),
    Symbol(_STORE, "SqlAlchemyStore.create_role", ("self", "name", "workspace", "description")),
    Symbol(_STORE, "SqlAlchemyStore.create_user", ("self", "username", "password", "is_admin")),
    Symbol(_STORE, "SqlAlchemyStore.delete_role", ("self", "role_id")),
    Symbol(_STORE, "SqlAlchemyStore.get_role_by_name", ("self", "workspace", "name")),
    Symbol(_STORE, "SqlAlchemyStore.get_role_permission", ("self", "role_permission_id")),
    Symbol(_STORE, "SqlAlchemyStore.get_user", ("self", "username")),
    Symbol(_STORE, "SqlAlchemyStore.has_user", ("self", "username")),
    Symbol(_STORE, "SqlAlchemyStore.init_db", ("self", "db_uri")),
    Symbol(_STORE, "SqlAlchemyStore.list_role_permissions", ("self", "role_id")),
    Symbol(_STORE, "SqlAlchemyStore.list_roles", ("self", "workspaces")),
    Symbol(_STORE, "SqlAlchemyStore.list_role_users", ("self", "role_id")),
    Symbol(_STORE, "SqlAlchemyStore.list_users", ("self",)),
    Symbol(_STORE, "SqlAlchemyStore.remove_role_permission", ("self", "role_permission_id")),
    Symbol(_STORE, "SqlAlchemyStore.unassign_role_from_user", ("self", "user_id", "role_id")),
    Symbol(_STORE, "SqlAlchemyStore.update_user", ("self", "username", "password", "is_admin")),
    # The user-management routes the plugin guards (user_routes).
    *(
        Symbol("mlflow.server.auth.routes", name)
        for name in (
            "AJAX_ASSIGN_ROLE",
            "AJAX_CREATE_USER",
            "AJAX_DELETE_USER",
            "AJAX_GET_USER",
            "AJAX_GET_USER_PERMISSION",
            "AJAX_GRANT_USER_PERMISSION",
            "AJAX_LIST_USER_PERMISSIONS",
            "AJAX_LIST_USER_ROLES",
            "AJAX_UPDATE_USER_ADMIN",
            "AJAX_UPDATE_USER_PASSWORD",
            "ASSIGN_ROLE",
            "CREATE_USER",
            "CREATE_USER_UI",
            "DELETE_USER",
            "GET_USER",
            "GET_USER_PERMISSION",
            "GRANT_USER_PERMISSION",
            "LIST_USER_PERMISSIONS",
            "LIST_USER_ROLES",
            "SIGNUP",
            "UPDATE_USER_ADMIN",
            "UPDATE_USER_PASSWORD",
        )
    ),
)

#: Private environment variables: (module, MLflow's variable object or constant, the
#: name ``server_process`` uses). Checked by value.
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("mlflow.environment_variables", "_MLFLOW_SGI_NAME", "WORKER_MARKER_ENV"),
    ("mlflow.environment_variables", "_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED", "BOOTSTRAPPED_ENV"),
    ("mlflow.server.handlers", "STATIC_PREFIX_ENV_VAR", "STATIC_PREFIX_ENV"),
    ("mlflow.server", "BACKEND_STORE_URI_ENV_VAR", "BACKEND_STORE_ENV"),
    (
        "mlflow.environment_variables",
        "_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY",
        "ASSISTANT_DELEGATION_KEY_ENV",
    ),
)

#: Variables above that only newer supported releases have, with the first such release
#: (``Symbol.since`` for symbols). On an older release the contract test checks that
#: MLflow indeed lacks them.
ADDED_IN: dict[str, str] = {
    "_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY": "3.18",
}
