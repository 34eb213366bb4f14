"""Hands our settings to ``mlflow.server.auth``, which reads its config at import time.

MLflow's auth module calls ``read_auth_config()`` once, when it is first imported, from
the INI file named by ``MLFLOW_AUTH_CONFIG_PATH``. So before the first import we write
the ``[mlflow]`` part of our settings (plus our ``authorization_function``) to a private
temporary file (mode 0600 in a 0700 directory), point the variable at it, import, and
delete the file again. Nothing else in this package imports ``mlflow.server.auth``
before this runs.
"""

from __future__ import annotations

import configparser
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from types import ModuleType
from typing import Any

from mlflow_ldap_auth.config import AUTHORIZATION_FUNCTION, Settings
from mlflow_ldap_auth.mlflow_compat import permission_middleware
from mlflow_ldap_auth.mlflow_compat.path_memo import remembered_by_route

MLFLOW_CONFIG_ENV = "MLFLOW_AUTH_CONFIG_PATH"


#: The ``[mlflow]`` keys written to MLflow's auth config (fields of its ``AuthConfig``).
MLFLOW_KEYS_WRITTEN = (
    "default_permission",
    "database_uri",
    "admin_username",
    "authorization_function",
    "grant_default_workspace_access",
    "workspace_cache_max_size",
    "workspace_cache_ttl_seconds",
    "read_database_uri",
    "admin_password",
)


def mlflow_ini(settings: Settings) -> configparser.ConfigParser:
    m = settings.mlflow
    parser = configparser.ConfigParser(interpolation=None)
    values = {
        "default_permission": m.default_permission,
        "database_uri": m.database_uri,
        "admin_username": m.admin_username,
        "authorization_function": AUTHORIZATION_FUNCTION,
        "grant_default_workspace_access": str(m.grant_default_workspace_access).lower(),
        "workspace_cache_max_size": str(m.workspace_cache_max_size),
        "workspace_cache_ttl_seconds": str(m.workspace_cache_ttl_seconds),
    }
    if m.read_database_uri:
        values["read_database_uri"] = m.read_database_uri
    if m.admin_password:
        values["admin_password"] = m.admin_password
    parser["mlflow"] = values
    return parser


def import_mlflow_auth(settings: Settings) -> ModuleType:
    """Import ``mlflow.server.auth`` configured from ``settings``; return the module."""
    if "mlflow.server.auth" in sys.modules:
        module = sys.modules["mlflow.server.auth"]
        if module.auth_config.authorization_function != AUTHORIZATION_FUNCTION:
            raise RuntimeError(
                "mlflow.server.auth was imported before mlflow-ldap-auth could configure it"
            )
        return module
    directory = tempfile.mkdtemp(prefix="mlflow-ldap-auth-")
    path = os.path.join(directory, "mlflow_auth.ini")
    previous = os.environ.get(MLFLOW_CONFIG_ENV)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            mlflow_ini(settings).write(handle)
        os.environ[MLFLOW_CONFIG_ENV] = path
        import mlflow.server.auth as module
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if previous is None:
            os.environ.pop(MLFLOW_CONFIG_ENV, None)
        else:
            os.environ[MLFLOW_CONFIG_ENV] = previous
    return module


def memoize_native_route_check(module: ModuleType, max_size: int = 4096) -> None:
    """Remember MLflow's "is this a native FastAPI route?" answer per (method, path).

    MLflow's FastAPI permission middleware asks it for every request that has no
    FastAPI-level validator (all the Flask API), matching the scope against each native
    route: about 7 % of a warm request's server CPU. The answer depends only on the
    scope's type, method, root path and path, so a bounded LRU over those
    (``path_memo``) keeps MLflow's fail-closed rule exactly as it is while skipping the
    repeated matching.
    """
    original = getattr(module, "_scope_matches_native_route", None)
    if original is None or getattr(original, "_ldap_auth_memoized", False):
        return

    def match(routes_id: int, scope_type: str, method: str, root_path: str, path: str) -> bool:
        routes = _routes_by_id[routes_id]
        scope = {"type": scope_type, "method": method, "root_path": root_path, "path": path}
        return original(routes, scope)

    matches = remembered_by_route(match, max_size)
    _routes_by_id: dict[int, list] = {}

    def scope_matches_native_route(native_routes, scope) -> bool:
        _routes_by_id.setdefault(id(native_routes), native_routes)
        try:
            return matches(
                id(native_routes),
                scope.get("type", "http"),
                scope.get("method", ""),
                scope.get("root_path", ""),
                scope.get("path", ""),
            )
        except Exception:  # noqa: BLE001 - anything unexpected: MLflow's own answer
            return original(native_routes, scope)

    # A marker on the wrapper (a second install keeps it) and MLflow's private module
    # attribute, replaced: neither is declared to the checker.
    scope_matches_native_route._ldap_auth_memoized = True  # type: ignore[attr-defined]
    module._scope_matches_native_route = scope_matches_native_route  # type: ignore[attr-defined]


def native_route_authenticator(module: ModuleType):
    """``(path, method) -> bool``: will MLflow's FastAPI middleware authenticate this request?

    Exactly its own test (a protected route with a FastAPI-level validator), so the
    plugin can authenticate those requests off the event loop first (``preauth``).
    """
    is_unprotected = module.is_unprotected_route
    find_validator = module._find_fastapi_validator

    def will_authenticate(path: str, method: str) -> bool:
        return not is_unprotected(path) and find_validator(path, method) is not None

    return will_authenticate


def serve(
    module: ModuleType,
    flask_app,
    *,
    ahead_of_mlflow: Callable,
    after_mlflow: Callable,
    asgi_middleware: Callable[..., Any],
):
    """Run MLflow's ``create_app`` between the plugin's two install steps; the app to serve.

    Flask runs ``before_request`` hooks in the order they were registered, and MLflow's
    ``create_app`` registers its permission hook: what must see a request before MLflow
    does (the admin guard, on-demand provisioning, the plugin's blueprints, which
    MLflow's fail-closed hook would otherwise deny) is installed by ``ahead_of_mlflow``;
    what wraps MLflow's own views or store needs them to exist, so ``after_mlflow``.
    Under uvicorn MLflow returns a FastAPI app around the Flask one; ``asgi_middleware``
    then authenticates native FastAPI routes off the event loop (``web.preauth``), and
    MLflow's FastAPI permission middleware is skipped for the requests it would only
    pass on to Flask (``permission_middleware``).
    """
    ahead_of_mlflow(flask_app)
    served = module.create_app(flask_app)
    memoize_native_route_check(module)
    if served is not flask_app:
        permission_middleware.install(served, module)
        served.add_middleware(
            asgi_middleware,
            flask_app=flask_app,
            will_authenticate=native_route_authenticator(module),
        )
    after_mlflow(flask_app)
    return served
