"""A short-lived read cache in front of MLflow's auth store.

MLflow's permission engine asks its user store the same questions several times per
request (``get_user`` for the admin check and again inside each validator, then
``list_grants``): about 70 % of the server CPU a warm request costs. This module wraps
the store *instance* MLflow uses, so every check still runs MLflow's own code; only the
answers of read methods are remembered, for ``permission_cache_ttl_seconds``.

Correctness rules:

* every write method of the store (``create_*``, ``update_*``, ``delete_*``,
  ``grant_*``, ``revoke_*``, ``assign_*``, ...) empties this worker's cache after it
  runs, so a change made through this worker is seen by its next request;
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

READ_PREFIXES = ("get_", "list_", "has_", "is_", "user_has_")
WRITE_PREFIXES = (
    "create_",
    "update_",
    "delete_",
    "grant_",
    "revoke_",
    "rename_",
    "set_",
    "add_",
    "remove_",
    "assign_",
    "unassign_",
)
NEVER_CACHED = frozenset({"authenticate_user", "init_db"})


def _freeze(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


class PermissionCache:
    def __init__(
        self, ttl_seconds: int, max_size: int = 50_000, workspace: Callable[[], Any] = lambda: None
    ) -> None:
        self._cache: TTLCache = TTLCache(max_size, ttl_seconds)
        self._lock = threading.Lock()
        self._workspace = workspace
        self._generation = 0
        self._thread = threading.local()
        self.hits = 0
        self.misses = 0

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
                if key in self._cache:
                    self.hits += 1
                    return self._cache[key]
                self.misses += 1
                generation = self._generation
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
        for name in dir(type(store)):
            if name.startswith("_") or name in NEVER_CACHED:
                continue
            method = getattr(store, name)
            if not callable(method):
                continue
            if name.startswith(WRITE_PREFIXES):
                setattr(store, name, self.invalidating_write(method))
            elif name.startswith(READ_PREFIXES):
                setattr(store, name, self.cached_read(name, method))

    def status(self) -> dict:
        with self._lock:
            return {"size": len(self._cache), "hits": self.hits, "misses": self.misses}
