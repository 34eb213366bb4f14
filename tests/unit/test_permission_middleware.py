"""The gate in place of MLflow's FastAPI permission middleware.

Requests MLflow's middleware would only pass on skip it; every other request still
runs it. Driven as ASGI calls on a Starlette app with MLflow's real middleware function
registered the way ``add_fastapi_permission_middleware`` registers it.
"""

from __future__ import annotations

import asyncio
import threading
import types

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from mlflow_ldap_auth.mlflow_compat import permission_middleware

PROTECTED_NATIVE = "/v1/traces"  # a native route with a validator
UNGATED_NATIVE = "/ajax-api/native-without-validator"
FLASK_PATH = "/api/2.0/mlflow/experiments/get"
HEALTH = "/health"


def fake_mlflow():
    def is_unprotected_route(path):
        return path == HEALTH

    def _find_fastapi_validator(path, method):
        return (lambda: True) if path == PROTECTED_NATIVE else None

    def _native_fastapi_routes(app):
        return [route for route in app.routes if not isinstance(route, Mount)]

    def _scope_matches_native_route(native_routes, scope):
        return any(route.matches(scope)[0].name == "FULL" for route in native_routes)

    return types.SimpleNamespace(
        is_unprotected_route=is_unprotected_route,
        _find_fastapi_validator=_find_fastapi_validator,
        _native_fastapi_routes=_native_fastapi_routes,
        _scope_matches_native_route=_scope_matches_native_route,
    )


def app_with_mlflow_middleware():
    async def ok(request):
        return PlainTextResponse("ok")

    flask_like = Starlette(routes=[Route("/{rest:path}", ok)])
    app = FastAPI(
        routes=[
            Route(PROTECTED_NATIVE, ok, methods=["GET", "POST"]),
            Route(UNGATED_NATIVE, ok),
            Route(HEALTH, ok),
            Mount("/", app=flask_like),
        ]
    )
    seen: list[str] = []

    async def fastapi_permission_middleware(request, call_next):  # MLflow's name
        seen.append(request.url.path)
        return await call_next(request)

    app.middleware("http")(fastapi_permission_middleware)
    return app, seen


def get(app, path, method="GET"):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    # A loop of its own in a thread of its own: the browser tests' sync Playwright API
    # may have left an event loop running in this thread.
    failures = []

    def run():
        try:
            asyncio.run(app(scope, receive, send))
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_only_requests_mlflows_middleware_would_pass_on_skip_it():
    app, seen = app_with_mlflow_middleware()
    assert permission_middleware.install(app, fake_mlflow()) is True
    assert get(app, FLASK_PATH) == 200
    assert get(app, HEALTH) == 200
    assert seen == []
    assert get(app, PROTECTED_NATIVE) == 200
    assert get(app, PROTECTED_NATIVE, "POST") == 200
    # No validator, but a native route: MLflow's fail-closed rule may refuse it.
    assert get(app, UNGATED_NATIVE) == 200
    assert seen == [PROTECTED_NATIVE, PROTECTED_NATIVE, UNGATED_NATIVE]


def test_without_the_gate_every_request_runs_mlflows_middleware():
    app, seen = app_with_mlflow_middleware()
    for path in (FLASK_PATH, HEALTH, PROTECTED_NATIVE):
        assert get(app, path) == 200
    assert seen == [FLASK_PATH, HEALTH, PROTECTED_NATIVE]


def test_other_http_middlewares_are_left_alone():
    app = FastAPI()

    async def something_else(request, call_next):
        return await call_next(request)

    app.middleware("http")(something_else)
    assert permission_middleware.install(app, fake_mlflow()) is False
    assert [entry.cls for entry in app.user_middleware] == [BaseHTTPMiddleware]


def test_mlflow_registers_the_middleware_under_the_name_the_gate_looks_for():
    import inspect

    from mlflow.server import auth

    source = inspect.getsource(auth.add_fastapi_permission_middleware)
    assert '@app.middleware("http")' in source
    assert f"async def {permission_middleware.MLFLOW_MIDDLEWARE}(request, call_next)" in source
