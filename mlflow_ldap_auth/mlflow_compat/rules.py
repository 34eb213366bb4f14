"""MLflow's own permission rules, asked at run time instead of copied.

Which permissions a resource type takes, which types take only ``*``, the precedence of
permissions and whether a workspace exists are MLflow's answers; the admin form, its
template, the REST validator and the mappings file all ask here, so they cannot drift
from each other or from MLflow.

``mlflow.server.auth`` reads its configuration when it is first imported, so nothing
here imports it at module import time: every function imports on first call, which is
after ``bridge.import_mlflow_auth`` configured it.
"""

from __future__ import annotations

import functools
import math
import re

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

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


# -- the form grants are stored and compared in ------------------------------------
EXPERIMENT = "experiment"
SCORER = "scorer"
#: The largest experiment id a tracking store can hold (its id column is an integer of at
#: most 64 bits); a larger number names no experiment anywhere.
MAX_EXPERIMENT_ID = 2**63 - 1
#: An experiment id as an operator types it: ASCII digits, maybe zero-padded or with a
#: ``+``. Python's ``int()`` (MLflow's reader) also takes ``_`` separators and non-ASCII
#: digits ("\uff12"): those are refused, so a stored pattern always reads as what it grants.
_EXPERIMENT_ID_TEXT = re.compile(r"\+?[0-9]+", re.ASCII)


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, INVALID_PARAMETER_VALUE)


def _experiment_id_spelling(text: str) -> str | None:
    """``text`` as the experiment id MLflow reads it (``"007"`` -> ``"7"``); None when it
    is no experiment id (a name, ``"2.0"``, ``"-2"``, a number beyond any id)."""
    if not _EXPERIMENT_ID_TEXT.fullmatch(text):
        return None
    digits = text.lstrip("+").lstrip("0") or "0"
    if len(digits) > len(str(MAX_EXPERIMENT_ID)) or int(digits) > MAX_EXPERIMENT_ID:
        return None
    return digits


def canonical_pattern_spelling(resource_pattern: str, resource_type: str) -> str | None:
    """The form MLflow stores and matches ``resource_pattern`` in; None when it cannot
    name a resource of ``resource_type``.

    Pure (MLflow is not imported): the database migration that rewrites grants stored
    before patterns were checked asks here too. An experiment pattern is an experiment
    id, ``"007"`` and ``"+7"`` are ``"7"``; a scorer pattern ``<experiment_id>/<name>``
    gets the same for its experiment part; ``*`` and other types stay as they are.
    """
    if resource_pattern == "*":
        return resource_pattern
    if resource_type == EXPERIMENT:
        return _experiment_id_spelling(resource_pattern)
    if resource_type == SCORER:
        experiment_id, slash, name = resource_pattern.partition("/")
        canonical = _experiment_id_spelling(experiment_id)
        if not slash or not name or canonical is None:
            return None
        return f"{canonical}/{name}"
    return resource_pattern


def canonical_resource_pattern(resource_pattern: str, resource_type: str) -> str:
    """``resource_pattern`` in the form MLflow stores grants in and matches requests on.

    MLflow 3.18 reads ``"007"``, ``"+7"`` as experiment 7 and stores such a grant as
    ``"7"``; 3.17 stores what it is given and then never matches it. Both get ``"7"``
    here (``canonical_pattern_spelling``, then MLflow's ``canonical_resource_id`` where
    the release has it). Text that names no experiment (a name, ``"2.0"``, ``"0x2"``,
    ``"-2"``, non-ASCII digits, a number beyond any id) is ``MlflowException`` 400:
    stored, it would grant nothing.
    """
    canonical = canonical_pattern_spelling(resource_pattern, resource_type)
    if canonical is None:
        shown = resource_pattern if len(resource_pattern) <= 40 else resource_pattern[:40] + "..."
        if resource_type == SCORER:
            expected = "'<experiment_id>/<scorer name>'"
        else:
            expected = "an experiment id (digits, e.g. '42'), not a name,"
        raise _invalid(
            f"resource_pattern of {resource_type} must be {expected} or '*', got {shown!r} "
            f"(an experiment id is at most {MAX_EXPERIMENT_ID})"
        )
    if canonical == "*" or resource_type not in (EXPERIMENT, SCORER):
        return canonical
    mlflow_canonical = getattr(_permissions_module(), "canonical_resource_id", None)
    return canonical if mlflow_canonical is None else mlflow_canonical(resource_type, canonical)


def request_ids_canonicalised() -> bool:
    """Does MLflow's permission check read an experiment id in a request the way its
    tracking store does (``"02"``, ``"+2"`` as experiment 2)? Since 3.18
    (``canonical_resource_id``); 3.17 compares the id as spelled, so a grant or a DENY
    on ``"2"`` does not apply to a request for ``"02"`` that the store serves as 2."""
    return hasattr(_permissions_module(), "canonical_resource_id")


def misspelled_experiment_id(value: object) -> bool:
    """Does a request name an experiment by ``value`` in another spelling than the one
    grants are matched on?

    Pure. True for text Python's ``int()`` (the SQL tracking store's reader) reads as
    another number than the text itself (``"02"``, ``"+2"``, ``" 2"``, ``"1_0"``,
    full-width digits, ``"-0"``), for other numeric text (``"2.0"``, ``"2e0"``: MLflow
    refuses them itself today; a database's own conversion would read them as 2) and for
    a JSON number or boolean where MLflow expects the id as a string. False for an id as
    MLflow writes it (``"2"``), for text that names no experiment (``"abc"``, ``"nan"``;
    ``"-2"`` stays ``"-2"``), for an empty value (MLflow's checks read it as "no
    experiment") and for anything else (MLflow refuses it itself).
    """
    if isinstance(value, (bool, int, float)):
        return True
    if not isinstance(value, str) or not value:
        return False
    try:
        return str(int(value)) != value
    except ValueError:
        pass
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


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


# -- how MLflow folds a person's grants on one resource (who has access) -------------
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
