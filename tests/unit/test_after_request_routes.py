"""MLflow's after-request hook, replaced by one that remembers its route look-up, answers
as MLflow's: the same handler for the same path and method, nothing below 400 missed,
nothing at 400 and above touched, and in MLflow's place among the app's hooks.

The module stands in for MLflow's auth module (its two tables and its hook, written as
MLflow 3.17 and 3.18 write it); the real module's names are held by the contract test.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from flask import Flask, Response, request

from mlflow_ldap_auth.mlflow_compat import after_request_routes


def fake_mlflow(calls: list):
    def handler(name):
        return lambda resp: calls.append((name, request.path, request.method))

    exact = {("/api/2.0/mlflow/experiments/search", "GET"): handler("search")}
    parameterized = {
        (re.compile(r"/api/3\.0/mlflow/scorers/[^/]+"), "GET"): handler("scorer"),
        (re.compile(r"/api/3\.0/mlflow/scorers/[^/]+"), "DELETE"): handler("scorer-delete"),
    }

    def _after_request(resp):  # MLflow's, as in both supported releases
        if 400 <= resp.status_code < 600:
            return resp
        found = exact.get((request.path, request.method))
        if found is None:
            for (path, method), candidate in parameterized.items():
                if method != request.method:
                    continue
                if path.fullmatch(request.path):
                    found = candidate
                    break
        if found is not None:
            found(resp)
        return resp

    return SimpleNamespace(
        AFTER_REQUEST_HANDLERS=exact,
        PARAMETERIZED_AFTER_REQUEST_HANDLERS=parameterized,
        _after_request=_after_request,
    )


def app_with(module, replaced: bool) -> Flask:
    app = Flask(__name__)
    app.after_request(lambda resp: resp)  # others before and after it stay where they are
    app.after_request(module._after_request)
    app.after_request(lambda resp: resp)
    for path in ("/api/2.0/mlflow/experiments/search", "/api/3.0/mlflow/scorers/<name>", "/x"):
        app.add_url_rule(
            path,
            path,
            lambda **kw: Response("ok", int(request.args.get("s", 200))),
            methods=["GET", "DELETE"],
        )
    if replaced:
        assert after_request_routes.install(app, module)
    return app


REQUESTS = [
    ("GET", "/api/2.0/mlflow/experiments/search"),
    ("DELETE", "/api/2.0/mlflow/experiments/search"),
    ("GET", "/api/3.0/mlflow/scorers/mine"),
    ("DELETE", "/api/3.0/mlflow/scorers/mine"),
    ("GET", "/api/3.0/mlflow/scorers/mine/x"),
    ("GET", "/x"),
]


def test_the_same_handlers_as_mlflows_hook_for_every_answer():
    for status in (200, 302, 399, 400, 403, 599):
        seen = []
        for replaced in (False, True):
            calls: list = []
            app = app_with(fake_mlflow(calls), replaced)
            client = app.test_client()
            for method, path in REQUESTS * 2:  # twice: the second answer is remembered
                client.open(path, method=method, query_string={"s": status})
            seen.append(calls)
        assert seen[0] == seen[1], status
        assert bool(seen[1]) == (status < 400)


def test_it_takes_mlflows_place_among_the_hooks():
    module = fake_mlflow([])
    app = app_with(module, replaced=False)
    before = list(app.after_request_funcs[None])
    assert after_request_routes.install(app, module)
    after = app.after_request_funcs[None]
    assert len(after) == len(before)
    assert module._after_request not in after
    assert [f for f in after if f not in before] == [after[1]]


def test_without_mlflows_hook_nothing_is_replaced():
    app = Flask(__name__)
    assert not after_request_routes.install(app, fake_mlflow([]))


#: MLflow's hook as the replacement was written from it (3.17 and 3.18 alike).
MLFLOW_AFTER_REQUEST = """
@catch_mlflow_exception
def _after_request(resp: Response):
    if 400 <= resp.status_code < 600:
        return resp

    handler = AFTER_REQUEST_HANDLERS.get((request.path, request.method))
    if handler is None:
        for (path, method), candidate in PARAMETERIZED_AFTER_REQUEST_HANDLERS.items():
            if method != request.method:
                continue
            if path.fullmatch(request.path):
                handler = candidate
                break

    if handler is not None:
        handler(resp)
    return resp
"""


def test_the_installed_mlflow_hook_is_the_one_the_replacement_answers_as():
    """A release that changes what its after-request hook does fails here, so the
    replacement is brought in line before that release is supported (comments and
    spacing aside: the syntax trees are compared)."""
    import ast
    import inspect
    import textwrap

    from mlflow.server import auth

    installed = ast.parse(textwrap.dedent(inspect.getsource(auth._after_request)))
    assert ast.dump(installed) == ast.dump(ast.parse(MLFLOW_AFTER_REQUEST))
