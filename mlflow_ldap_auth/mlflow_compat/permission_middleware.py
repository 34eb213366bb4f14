"""MLflow's FastAPI permission middleware, skipped for the requests it only passes on.

``add_fastapi_permission_middleware`` registers ``fastapi_permission_middleware`` with
``@app.middleware("http")``: a Starlette ``BaseHTTPMiddleware``, which costs every
request a task group, memory streams and a re-wrapped streaming response, about a
tenth of a warm request's CPU on these machines. For every request served by Flask
(the whole REST API and the UI) it does nothing but ``call_next``: its first two
tests send those on (an unprotected route; no FastAPI-level validator), and Flask's
``before_request`` hook authorizes them.

``install`` puts a gate in that middleware's place in the stack. The gate asks MLflow's
own tests, on the same ``scope["path"]`` MLflow reads, and calls the next app directly
when MLflow's middleware would only have passed the request on: an unprotected route,
or no FastAPI-level validator *and* no native FastAPI route matching (a path Flask
serves; MLflow's fail-closed rule only concerns native routes). Every other request
goes through MLflow's middleware unchanged, so its answers stay MLflow's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType

from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware

from mlflow_ldap_auth.mlflow_compat.path_memo import remembered_by_route

_logger = logging.getLogger(__name__)

#: The name of MLflow's permission middleware function (``add_fastapi_permission_middleware``).
MLFLOW_MIDDLEWARE = "fastapi_permission_middleware"


class PermissionMiddlewareGate:
    def __init__(self, app, dispatch: Callable, passes_on: Callable[[dict], bool]) -> None:
        self.app = app
        self.mlflow = BaseHTTPMiddleware(app, dispatch=dispatch)
        self.passes_on = passes_on

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.passes_on(scope):
            return await self.app(scope, receive, send)
        return await self.mlflow(scope, receive, send)


def passes_on_test(module: ModuleType, served) -> Callable[[dict], bool]:
    """``scope -> bool``: MLflow's middleware would only call ``call_next``."""
    is_unprotected = module.is_unprotected_route
    find_validator = module._find_fastapi_validator
    native_routes = module._native_fastapi_routes(served)
    matches_native = module._scope_matches_native_route

    @remembered_by_route
    def by_route(path: str, method: str) -> bool | None:
        if is_unprotected(path):
            return True
        if find_validator(path, method) is not None:
            return False
        return None  # depends on whether a native route matches

    def passes_on(scope: dict) -> bool:
        path = scope.get("path")
        # MLflow reads scope["path"] when it is a non-empty string (get_routed_asgi_path).
        if not isinstance(path, str) or not path:
            return False
        answer = by_route(path, scope.get("method", ""))
        if answer is None:
            answer = not matches_native(native_routes, scope)
        return answer

    return passes_on


def install(served, module: ModuleType) -> bool:
    """Put the gate in place of MLflow's middleware in ``served`` (before it starts).

    False when it is not there: then MLflow's runs as it is.
    """
    for index, entry in enumerate(served.user_middleware):
        dispatch = entry.kwargs.get("dispatch")
        if entry.cls is BaseHTTPMiddleware and getattr(dispatch, "__name__", "") == (
            MLFLOW_MIDDLEWARE
        ):
            served.user_middleware[index] = Middleware(
                PermissionMiddlewareGate,
                dispatch=dispatch,
                passes_on=passes_on_test(module, served),
            )
            return True
    _logger.warning("MLflow's FastAPI permission middleware not found: it runs for every request")
    return False
