"""A short-lived read cache in front of MLflow's auth store.

MLflow's permission engine asks its user store the same questions several times per
request (``get_user`` for the admin check and again inside each validator, then
``list_grants``): about 70 % of the server CPU a warm request costs. This module wraps
the store *instance* MLflow uses, so every check still runs MLflow's own code; only the
answers of read methods are remembered, for ``permission_cache_ttl_seconds``.

Correctness rules:

* only the methods listed in ``READ_METHODS`` are cached; every other public method of
  the store (``create_*``, ``update_*``, ``delete_*``, ``grant_*``, ``assign_*``, and
  any method a newer MLflow adds) empties this worker's cache after it runs, so a
  change made through this worker is seen by its next request;
* a change made through another worker or server is seen within the TTL (the same kind
  of bound as MLflow basic-auth's ``auth_cache_ttl_seconds``); ``0`` turns caching off;
* ``authenticate_user`` (it takes a password) is never cached;
* the active workspace is part of every key; exceptions are never cached;
* the plugin's own administration requests read past the cache (``bypass``): an admin
  who just created a mapping through one worker can delete it through another.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache

#: Store methods whose answers are remembered: they only read.
READ_METHODS = frozenset(
    {
        "get_experiment_permission",
        "get_gateway_endpoint_permission",
        "get_gateway_model_definition_permission",
        "get_gateway_secret_permission",
        "get_mcp_server_permission",
        "get_registered_model_permission",
        "get_role",
        "get_role_by_name",
        "get_role_permission",
        "get_role_permission_for_resource",
        "get_role_workspace_permission",
        "get_scorer_permission",
        "get_user",
        "get_workspace_permission",
        "has_user",
        "is_workspace_admin",
        "is_workspace_admin_of_any_of_users_workspaces",
        "list_accessible_workspace_names",
        "list_all_registered_model_permissions",
        "list_named_role_grants_for_resource",
        "list_experiment_permissions",
        "list_gateway_endpoint_permissions",
        "list_gateway_model_definition_permissions",
        "list_gateway_secret_permissions",
        "list_grants",
        "list_mcp_server_permissions",
        "list_per_user_grants_for_resource",
        "list_registered_model_permissions",
        "list_role_grants_for_user_in_workspace",
        "list_role_permissions",
        "list_role_users",
        "list_roles",
        "list_scorer_permissions",
        "list_user_present_workspaces",
        "list_user_roles",
        "list_user_roles_for_workspace",
        "list_user_workspace_permissions",
        "list_users",
        "list_users_with_roles",
        "list_workspace_admin_workspaces",
        "list_workspace_permissions",
        "user_has_any_role_in_workspace",
    }
)
#: Methods classified above that only newer supported releases have (the contract test
#: expects every other classified method on every supported release).
ADDED_IN = {
    "grant_user_permissions": "3.18",
    "list_named_role_grants_for_resource": "3.18",
    "list_per_user_grants_for_resource": "3.18",
}
#: Store methods passed through untouched: they take a password or set the store up.
NEVER_CACHED = frozenset({"authenticate_user", "init_db"})
#: Store methods that change permissions: the cache is emptied after each call.
WRITE_METHODS = frozenset(
    {
        "add_role_permission",
        "assign_role_to_user",
        "create_experiment_permission",
        "create_gateway_endpoint_permission",
        "create_gateway_model_definition_permission",
        "create_gateway_secret_permission",
        "create_mcp_server_permission",
        "create_registered_model_permission",
        "create_role",
        "create_scorer_permission",
        "create_user",
        "delete_experiment_permission",
        "delete_gateway_endpoint_permission",
        "delete_gateway_model_definition_permission",
        "delete_gateway_secret_permission",
        "delete_grants_for_resource",
        "delete_mcp_server_permission",
        "delete_registered_model_permission",
        "delete_role",
        "delete_roles_for_workspace",
        "delete_scorer_permission",
        "delete_user",
        "delete_workspace_permission",
        "delete_workspace_permissions_for_workspace",
        "grant_user_permission",
        "grant_user_permissions",
        "grant_user_resource_permission",
        "remove_role_permission",
        "rename_grants_for_resource",
        "revoke_user_resource_permission",
        "set_workspace_permission",
        "unassign_role_from_user",
        "update_experiment_permission",
        "update_gateway_endpoint_permission",
        "update_gateway_model_definition_permission",
        "update_gateway_secret_permission",
        "update_mcp_server_permission",
        "update_registered_model_permission",
        "update_role",
        "update_role_permission",
        "update_scorer_permission",
        "update_user",
    }
)
# A public method in none of the three sets (one a newer MLflow adds) is treated as a
# write, so it can at worst empty the cache needlessly, never serve a stale answer; the
# contract test fails on it so that it gets classified.


#: Argument types that are their own key (hashable, compared by value).
_PLAIN = frozenset({str, int, bool, float, type(None)})


def _freeze(value: Any) -> Any:
    # The arguments of nearly every call are names and ids: the same key, without a
    # Python call per argument (this runs several times per request).
    if type(value) is tuple and _PLAIN.issuperset(map(type, value)):
        return value
    if type(value) is dict and _PLAIN.issuperset(map(type, value.values())):
        return tuple(sorted(value.items()))
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def public_methods(store_class: type) -> list[str]:
    return [
        name
        for name in dir(store_class)
        if not name.startswith("_") and callable(getattr(store_class, name))
    ]


def active_workspace(store) -> Callable[[], Any]:
    """How the cache keys answers by workspace: MLflow's own notion of the active one."""
    return store._get_active_workspace_name


class PermissionCache:
    def __init__(
        self,
        ttl_seconds: int,
        max_size: int = 50_000,
        workspace: Callable[[], Any] = lambda: None,
        count_lookup: Callable[[str], None] = lambda _result: None,
    ) -> None:
        self._cache: TTLCache = TTLCache(max_size, ttl_seconds)
        self._lock = threading.Lock()
        self._workspace = workspace
        self._generation = 0
        self._thread = threading.local()
        self.hits = 0
        self.misses = 0
        #: Told "hit" or "miss" for every lookup (the metrics).
        self._count_lookup = count_lookup

    def bypass(self, on: bool) -> None:
        """Read past the cache in this thread (for the current request) or stop doing so."""
        self._thread.bypass = on

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def _current_workspace(self) -> Any:
        try:
            return self._workspace()
        except Exception:  # noqa: BLE001 - no active workspace: its own key
            return None

    def cached_read(self, name: str, method: Callable) -> Callable:
        @functools.wraps(method)
        def read(*args, **kwargs):
            if getattr(self._thread, "bypass", False):
                return method(*args, **kwargs)
            try:
                key = (name, self._current_workspace(), _freeze(args), _freeze(kwargs))
                hash(key)
            except TypeError:
                return method(*args, **kwargs)
            with self._lock:
                hit = key in self._cache
                if hit:
                    self.hits += 1
                    value = self._cache[key]
                else:
                    self.misses += 1
                    generation = self._generation
            if hit:
                self._count_lookup("hit")
                return value
            self._count_lookup("miss")
            value = method(*args, **kwargs)
            with self._lock:
                # A write that ran meanwhile may have made ``value`` stale: keep it out.
                if generation == self._generation:
                    self._cache[key] = value
            return value

        return read

    def invalidating_write(self, method: Callable) -> Callable:
        @functools.wraps(method)
        def write(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            finally:
                self.clear()

        return write

    def install(self, store) -> None:
        """Wrap the public methods of ``store`` (an instance) in place."""
        for name in public_methods(type(store)):
            if name in NEVER_CACHED:
                continue
            method = getattr(store, name)
            if name in READ_METHODS:
                setattr(store, name, self.cached_read(name, method))
            else:
                setattr(store, name, self.invalidating_write(method))

    def status(self) -> dict:
        with self._lock:
            return {"size": len(self._cache), "hits": self.hits, "misses": self.misses}
