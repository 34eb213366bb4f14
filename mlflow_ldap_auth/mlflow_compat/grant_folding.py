"""How MLflow folds a person's grants on one resource, and where a resource lives.

For who has access and the test-user page (``mappings.who_has_access``,
``auth.access_report``): whether a grant applies to a resource, a workspace admin
grant, the permission MLflow resolves from one person's grants, the workspace that
owns a resource, MLflow's key of a resource and what it gives where no grant speaks;
all through MLflow's own functions, so these pages and MLflow's check cannot disagree.
Callers import these through ``rules``.

``mlflow.server.auth`` reads its configuration when it is first imported, so nothing
here imports it at module import time: every function imports on first call, which is
after ``bridge.import_mlflow_auth`` configured it.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.mlflow_compat.permission_checks import _permissions_module, workspaces_enabled


def _requirements_module():
    from mlflow.server.auth import requirements

    return requirements


def grant_applies(resource_pattern: str, resource_type: str, resource_key: str) -> bool:
    """MLflow's rule: does a grant with ``resource_pattern`` apply to ``resource_key``?"""
    return _permissions_module().matches(resource_pattern, resource_type, resource_key)


def is_workspace_admin_grant(resource_type: str, resource_pattern: str, permission: str) -> bool:
    """A ``(workspace, *, MANAGE)`` grant: MLflow makes its holder MANAGE everything there."""
    from mlflow.server.auth.sqlalchemy_store import RoleGrantRow

    grant = RoleGrantRow(resource_type, resource_pattern, permission)
    return _requirements_module().is_workspace_admin_grant(grant)


def resolve_grants(
    grants: list[tuple[str, str, str]],
    resource_type: str,
    resource_key: str,
    default_permission: str,
    absent_permission: str | None = None,
) -> tuple[str, bool]:
    """The permission MLflow resolves from one person's grants on one resource.

    ``grants``: (resource_type, resource_pattern, permission) of every grant the person
    holds in the resource's workspace. Returns (permission name, whether
    ``default_permission`` decided it: no grant applied, or it lifted a lower one). The
    same steps as MLflow's runtime check (``_role_grant_for_resource`` then
    ``_get_role_permission_or_default``), through MLflow's own functions: a workspace
    admin grant gives MANAGE, ``DENY`` wins over every other grant, the highest grant
    wins otherwise, and a positive grant never ends below ``default_permission``.
    """
    from mlflow.server.auth.permissions import GrantLoadKey
    from mlflow.server.auth.sqlalchemy_store import RoleGrantRow

    requirements = _requirements_module()
    rows = [RoleGrantRow(*grant) for grant in grants]
    if any(requirements.is_workspace_admin_grant(row) for row in rows):
        return "MANAGE", False
    folded = requirements.fold_grants_for_key(rows, GrantLoadKey(resource_type, resource_key))
    if folded is None:
        return absent_permission or default_permission, True
    floored = requirements.floor_positive_permission(folded, default_permission)
    return floored.name, floored.name != folded.name


def resource_workspace(resource_type: str, resource_id: str, found_in: str) -> str | None:
    """The workspace that owns a resource (MLflow's lookup); None if it cannot be found.

    ``found_in``: the workspace the resource was found in by name, the answer for types
    MLflow has no owner lookup for (prompts).
    """
    if not workspaces_enabled():
        from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

        return DEFAULT_WORKSPACE_NAME
    from mlflow.server import auth
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    # MLflow's stores answer only about the workspace the context names.
    with ServerWorkspaceContext(found_in):
        try:
            if auth._resource_dispatch_keys(resource_type, resource_id) is None:
                return found_in
        except MlflowException:
            return None  # e.g. a malformed scorer key: nothing owns it
        return auth._workspace_for_resource(resource_type, resource_id)


def resource_key(resource_type: str, resource_id: str) -> str:
    """The key MLflow looks grants up by (scorers: a composite of experiment and name)."""
    if resource_id == "*":
        return "*"
    from mlflow.server import auth

    dispatch = auth._resource_dispatch_keys(resource_type, resource_id)
    return resource_id if dispatch is None else dispatch.resource_key


def is_user_grant_role(role_name: str) -> bool:
    """Whether a role is the one MLflow keeps per user for that user's own grants."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    return SqlAlchemyStore._is_synthetic_role_name(role_name)


def request_workspace() -> str:
    """The workspace the current request names (MLflow's header), else the default one."""
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    if not workspaces_enabled():
        return DEFAULT_WORKSPACE_NAME
    from mlflow.utils import workspace_context

    return workspace_context.get_request_workspace() or DEFAULT_WORKSPACE_NAME


def absent_permission(workspace: str) -> str:
    """What MLflow gives where no grant speaks: ``default_permission``, or with
    workspaces on NO_PERMISSIONS unless ``grant_default_workspace_access`` opens the
    default workspace."""
    from mlflow.server import auth

    return auth._absent_permission(workspace).name
