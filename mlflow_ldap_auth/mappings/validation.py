"""A mapping's fields checked before anything is written, by MLflow's own rules.

Validation asks MLflow's own rules for each resource type (``mlflow_compat.rules``:
sub-resources take only ``*``, workspace grants take what MLflow allows, an experiment
pattern is an experiment id and is stored as MLflow matches it: ``"007"`` as ``"7"``, ...);
every refusal is an ``InvalidRequest`` (MLflow's ``INVALID_PARAMETER_VALUE``, HTTP 400),
raised before anything is written (MLflow's own rules still raise ``MlflowException``,
passed on as MLflow wrote it). The API, the page and the mapping file
(``mappings.file``) all check fields here; the directory's part of the checks (the
group exists and is a group) is ``MappingService.find_group``.
"""

from __future__ import annotations

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE
from mlflow_ldap_auth.errors import InvalidRequest
from mlflow_ldap_auth.ldap.dn import is_valid_dn
from mlflow_ldap_auth.mlflow_compat import rules
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

ALL_WORKSPACES = "*"


def validate_fields(
    group: object, resource_type: object, resource_pattern: object, permission: object, workspace
) -> tuple[str, str, str, str, str]:
    """Check a mapping's fields (types, DN syntax, MLflow's rules); return them normalized."""
    problems = []
    for name, value in (
        ("group", group),
        ("resource_type", resource_type),
        ("resource_pattern", resource_pattern),
        ("permission", permission),
        ("workspace", workspace),
    ):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"'{name}' must be a non-empty string")
    if problems:
        raise InvalidRequest("; ".join(problems))
    # The loop above refused anything but strings.
    assert isinstance(group, str) and isinstance(resource_type, str)
    assert isinstance(resource_pattern, str) and isinstance(permission, str)
    assert isinstance(workspace, str)
    group, resource_type = group.strip(), resource_type.strip()
    resource_pattern, workspace = resource_pattern.strip(), workspace.strip()
    permission = permission.strip().upper()
    if not is_valid_dn(group):
        raise InvalidRequest(f"'group' is not a valid DN: {group!r}")
    if resource_type == ADMIN_RESOURCE_TYPE:
        if resource_pattern != "*" or permission != "MANAGE":
            raise InvalidRequest(
                "an admin mapping takes resource_pattern '*' and permission 'MANAGE'"
            )
        return group, resource_type, "*", "MANAGE", ALL_WORKSPACES
    rules.check_permission(permission, resource_type)
    rules.check_resource_pattern(resource_pattern, resource_type)
    resource_pattern = rules.canonical_resource_pattern(resource_pattern, resource_type)
    if not rules.workspaces_enabled() and workspace != DEFAULT_WORKSPACE:
        raise InvalidRequest(
            f"workspaces are not enabled on this server: workspace must be "
            f"'{DEFAULT_WORKSPACE}', got {workspace!r}"
        )
    return group, resource_type, resource_pattern, permission, workspace
