"""MLflow's own permission rules, asked at run time instead of copied.

Which permissions a resource type takes, which types take only ``*``, the precedence of
permissions and whether a workspace exists are MLflow's answers; the admin form, its
template, the REST validator and the mappings file all ask here, so they cannot drift
from each other or from MLflow.

The answers live in three modules, one concern each: ``permission_checks`` (which
permissions and patterns a type takes, workspaces), ``experiment_ids`` (the spelling of
an experiment id in grants and requests) and ``grant_folding`` (how a person's grants
on one resource resolve); this module is the one name callers import them by.

``mlflow.server.auth`` reads its configuration when it is first imported, so nothing
here imports it at module import time: every function imports on first call, which is
after ``bridge.import_mlflow_auth`` configured it.
"""

from __future__ import annotations

from mlflow_ldap_auth.mlflow_compat.experiment_ids import (
    EXPERIMENT,
    MAX_EXPERIMENT_ID,
    SCORER,
    canonical_pattern_spelling,
    canonical_resource_pattern,
    misspelled_experiment_id,
    request_ids_canonicalised,
)
from mlflow_ldap_auth.mlflow_compat.grant_folding import (
    absent_permission,
    grant_applies,
    is_user_grant_role,
    is_workspace_admin_grant,
    request_workspace,
    resolve_grants,
    resource_key,
    resource_workspace,
)
from mlflow_ldap_auth.mlflow_compat.permission_checks import (
    check_permission,
    check_resource_pattern,
    get_workspace,
    grantable_permissions,
    offered_permissions,
    permission_priority,
    wildcard_only,
    workspaces_enabled,
)

__all__ = [
    "EXPERIMENT",
    "MAX_EXPERIMENT_ID",
    "SCORER",
    "absent_permission",
    "canonical_pattern_spelling",
    "canonical_resource_pattern",
    "check_permission",
    "check_resource_pattern",
    "get_workspace",
    "grant_applies",
    "grantable_permissions",
    "is_user_grant_role",
    "is_workspace_admin_grant",
    "misspelled_experiment_id",
    "offered_permissions",
    "permission_priority",
    "request_ids_canonicalised",
    "request_workspace",
    "resolve_grants",
    "resource_key",
    "resource_workspace",
    "wildcard_only",
    "workspaces_enabled",
]
