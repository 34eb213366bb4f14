"""What the REST API and the admin page both answer: who is asking, what the directory
and the mappings say about a user, this worker's status, and the names of the resources
a listing shows.

The JSON answers and the pages read the same dicts, so a page never says something the
REST API does not (docs/reference/rest-api.md#users,
docs/reference/rest-api.md#cache-and-status).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE, applicable
from mlflow_ldap_auth.errors import AuthError, NotFound, Unavailable
from mlflow_ldap_auth.plugin import Plugin
from mlflow_ldap_auth.web.authn import authenticate_request


def actor() -> str | None:
    """The username behind the current request (for audit lines)."""
    return getattr(authenticate_request(), "username", None)


def explain_user(service: Plugin, username: str) -> dict:
    """What the directory says about ``username`` and what the mappings give them.

    ``permissions``: per resource the mappings name, the permission MLflow gives the
    person there, folded as *who has access* folds (``WhoHasAccess.granted_to``).
    """
    try:
        user = service.directory.lookup(username)
    except AuthError as exc:
        raise Unavailable(f"directory lookup failed: {exc}") from None
    if user is None:
        raise NotFound(f"no user {username!r} in the directory")
    mappings = service.mappings.list()
    applying = applicable(mappings, set(user.uuid_by_group_dn.values()))
    decision = service.policy.decide(user)
    return {
        "username": user.username,
        "dn": user.dn,
        "groups": {
            "direct": sorted(user.direct_group_dns),
            "nested": sorted(user.group_dns - user.direct_group_dns),
        },
        "nesting": [{"group": parent, "via": child} for parent, child in user.group_parents],
        "admin": bool(decision.is_admin),
        "admin_follows_directory": decision.is_admin is not None,
        "allowed": decision.allowed,
        "mappings": [m.to_json() for m in applying],
        "permissions": service.access.granted_to(
            user.username, applying, is_admin=bool(decision.is_admin)
        ),
        "default_permission": service.access.default_permission,
    }


def status_report(service: Plugin) -> dict:
    """Servers, service bind, caches, revalidation and counters of this worker."""
    directory = service.directory
    servers = directory.server_status()
    try:
        directory.check_service_bind()
        service_bind: dict[str, object] = {"ok": True, "error": None}
    except AuthError as exc:
        service_bind = {"ok": False, "error": str(exc)}
    permission_cache = service.permission_cache.status() if service.permission_cache else None
    return {
        "worker": os.getpid(),
        "servers": servers,
        "service_bind": service_bind,
        "cache": service.login_service.cache_status(),
        "group_cache": directory.group_cache_status(),
        "permission_cache": permission_cache,
        "revalidation": service.revalidator.status(),
        "ldap_operations": directory.operation_counts(),
        "metrics": service.metrics.enabled,
        "activity": service.activity.stats() if service.activity else None,
    }


def resource_labels(service: Plugin, keys: Iterable[tuple[str, str, str]]) -> dict:
    """(type, pattern, workspace) -> the resource's name, for listings (one batched read)."""
    keys = [key for key in keys if key[0] != ADMIN_RESOURCE_TYPE]
    return service.names.labels(keys) if keys else {}
