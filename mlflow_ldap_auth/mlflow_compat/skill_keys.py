"""Skills (MLflow 3.18) as a resource type: MLflow's key of a skill and its store questions.

A skill's key is ``name`` or ``@organization/name``, parsed, validated and formatted by
MLflow's own private functions (listed in ``contract.py``, present from 3.18), so a
grant is never stored under a spelling no skill can have. Kept apart from the other
types' store functions (``resource_lookups``) because these are the ones that exist
only on some releases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_ldap_auth.mlflow_compat.resource_lookups import (
    SEARCH_PAGE,
    Found,
    Stores,
    _pages,
    chunks,
)


def normalise_skill_key(text: str) -> str:
    """MLflow's key for a skill an admin typed: the store's own parse and format, with
    its rules for names (lowercase letters, digits, hyphens) and organizations, so a
    grant is never stored under a spelling no skill can have."""
    from mlflow.server.auth.permissions import (
        _format_skill_registry_resource_key,
        _parse_skill_registry_resource_key,
    )
    from mlflow.utils.validation import _validate_organization_name, _validate_skill_name

    try:
        organization, name = _parse_skill_registry_resource_key(text)
        _validate_organization_name(organization)
        _validate_skill_name(name)
    except MlflowException as exc:
        raise MlflowException(
            f"{text!r} is not a skill: type its name or @organization/name. {exc.message}",
            INVALID_PARAMETER_VALUE,
        ) from None
    return _format_skill_registry_resource_key(organization, name)


def _skill_key(skill: Any) -> str:
    from mlflow.server.auth.permissions import _format_skill_registry_resource_key

    return _format_skill_registry_resource_key(skill.organization, skill.name)


def _skill_identity(key: str) -> tuple[str, str] | None:
    """(organization, name) of a well-formed key, else None (it names no skill)."""
    from mlflow.server.auth.permissions import _parse_skill_registry_resource_key

    try:
        return _parse_skill_registry_resource_key(key)
    except MlflowException:
        return None


def _skill_store(stores: Stores) -> Any:
    store = stores.tracking()
    if not hasattr(store, "search_skills"):
        raise MlflowException("This MLflow release has no skill registry.", INVALID_PARAMETER_VALUE)
    return store


def _skills_by_key(stores: Stores, keys: list[str]) -> Found:
    """One exact-identity query per 500 keys."""
    store = _skill_store(stores)
    identities = {key: _skill_identity(key) for key in keys}
    wanted = sorted({i for i in identities.values() if i is not None})
    found: set[str] = set()
    for chunk in chunks(wanted):
        page = store.search_skills(max_results=len(chunk), include_skill_identities=chunk)
        found.update(_skill_key(skill) for skill in page)
    return {key: (key, True) for key in keys if key in found}


def _skill_rows(stores: Stores, query: str) -> Iterator[tuple[str, str]]:
    """Every skill (at most ``SEARCH_SCAN_LIMIT``), by key: the text may match the
    organization or the name, which the store's filter cannot ask in one question."""
    store = _skill_store(stores)
    pages = _pages(lambda token: store.search_skills(max_results=SEARCH_PAGE, page_token=token))
    return iter(sorted((key, key) for key in map(_skill_key, pages)))


def _find_skill(stores: Stores, key: str) -> str | None:
    return key if key in _skills_by_key(stores, [key]) else None
