"""Which permissions MLflow grants on each resource type, and its workspaces.

Which permissions a resource type takes, which types take only ``*``, the precedence of
permissions and whether a workspace exists are MLflow's answers, asked through its
permission module (``_permissions_module``, shared by ``experiment_ids`` and
``grant_folding``). Callers import these through ``rules``.

``mlflow.server.auth`` reads its configuration when it is first imported, so nothing
here imports it at module import time: every function imports on first call, which is
after ``bridge.import_mlflow_auth`` configured it.
"""

from __future__ import annotations

import functools

from mlflow.exceptions import MlflowException

#: The order in which the admin form offers permissions (MLflow names, strongest last).
_OFFER_ORDER = ("READ", "USE", "EDIT", "MANAGE", "DENY")


def _permissions_module():
    from mlflow.server.auth import permissions

    return permissions


def check_permission(permission: str, resource_type: str) -> None:
    """``MlflowException`` (INVALID_PARAMETER_VALUE) unless MLflow grants ``permission``
    on ``resource_type``."""
    _permissions_module()._validate_permission_for_resource_type(permission, resource_type)


def check_resource_pattern(pattern: str, resource_type: str) -> None:
    """``MlflowException`` unless MLflow accepts ``pattern`` for ``resource_type``."""
    _permissions_module()._validate_resource_pattern(pattern, resource_type)


def offered_permissions() -> list[str]:
    """Every permission a mapping may grant (MLflow's set, without NO_PERMISSIONS)."""
    known = set(_permissions_module().ALL_PERMISSIONS) - {"NO_PERMISSIONS"}
    return [p for p in _OFFER_ORDER if p in known] + sorted(known - set(_OFFER_ORDER))


@functools.cache
def grantable_permissions(resource_type: str) -> tuple[str, ...]:
    """The permissions MLflow accepts on ``resource_type``, in offer order."""
    allowed = []
    for permission in offered_permissions():
        try:
            check_permission(permission, resource_type)
        except MlflowException:
            continue
        allowed.append(permission)
    return tuple(allowed)


@functools.cache
def wildcard_only(resource_type: str) -> bool:
    """Does MLflow accept only ``*`` as the pattern for ``resource_type``?"""
    try:
        check_resource_pattern("x", resource_type)
    except MlflowException:
        return True
    return False


@functools.cache
def permission_priority() -> dict[str, int]:
    """MLflow's precedence of permissions (higher wins; DENY is handled before it)."""
    return dict(_permissions_module().PERMISSION_PRIORITY)


def workspaces_enabled() -> bool:
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    return bool(MLFLOW_ENABLE_WORKSPACES.get())


def get_workspace(name: str):
    """MLflow's workspace ``name``; ``MlflowException`` RESOURCE_DOES_NOT_EXIST if none."""
    from mlflow.server.workspace_helpers import _get_workspace_store

    return _get_workspace_store().get_workspace(name)
