"""Flask's coroutine test made once per hook and view: the same hooks run, in the same
order, with the same answers; an ``async def`` still gets Flask's own handling."""

from __future__ import annotations

import inspect

import pytest
from flask import Flask, g

from mlflow_ldap_auth.web import sync_hooks


def app_with_hooks(order: list[str]) -> Flask:
    app = Flask(__name__)
    sync_hooks.install(app)
    app.before_request(lambda: order.append("before") or None)
    app.after_request(lambda response: order.append("after") or response)
    app.teardown_request(lambda error: order.append("teardown"))

    @app.get("/")
    def index():
        g.seen = True
        return "ok"

    return app


def test_hooks_and_views_run_as_before():
    order: list[str] = []
    client = app_with_hooks(order).test_client()
    for _ in range(3):
        assert client.get("/").get_data(as_text=True) == "ok"
    assert order == ["before", "after", "teardown"] * 3


def test_the_coroutine_test_runs_once_per_function(monkeypatch):
    asked: list[object] = []
    real = inspect.iscoroutinefunction

    def counting(function):
        asked.append(function)
        return real(function)

    monkeypatch.setattr("flask.app.iscoroutinefunction", counting)
    client = app_with_hooks([]).test_client()
    for _ in range(5):
        client.get("/")
    assert len(asked) == 4  # the before, after and teardown hooks and the view, once each


def test_an_async_view_gets_flasks_own_answer():
    app = Flask(__name__)
    sync_hooks.install(app)

    @app.get("/")
    async def index():
        return "ok"

    try:
        import asgiref  # noqa: F401
    except ImportError:
        # Flask's own refusal, every time: the function is not remembered as plain.
        for _ in range(2):
            with pytest.raises(RuntimeError, match="async"):
                app.ensure_sync(index)
    else:
        assert app.test_client().get("/").get_data(as_text=True) == "ok"
