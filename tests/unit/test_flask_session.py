"""The Flask session cookie (``web.session_cookie``) answers as Flask's own would, and a
request without cookies costs no serializer and no cookie attributes.

A Flask app with the plugin's session interface beside one with Flask's, the same
routes on both: every answer's ``Set-Cookie`` and ``Vary`` are compared.
"""

from __future__ import annotations

import pytest
from flask import Flask, session

from mlflow_ldap_auth.web import session_cookie


def make_app(ours: bool) -> Flask:
    app = Flask(__name__)
    app.secret_key = "test-secret"
    if ours:
        session_cookie.install(app)
    else:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    @app.get("/untouched")
    def untouched():
        return "ok"

    @app.get("/read")
    def read():
        return str(session.get("csrf", "none"))

    @app.get("/write")
    def write():
        session["csrf"] = "token"
        return "ok"

    @app.get("/clear")
    def clear():
        session.clear()
        return "ok"

    return app


def answer(app: Flask, path: str, cookie: str | None = None):
    client = app.test_client()
    if cookie is not None:
        name, _, value = cookie.partition("=")
        client.set_cookie(name, value)
    response = client.get(path)
    return response.status_code, response.get_data(as_text=True), response.headers


def session_cookie_of(app: Flask) -> str:
    _, _, headers = answer(app, "/write")
    return headers["Set-Cookie"].split(";")[0]


@pytest.mark.parametrize("path", ["/untouched", "/read", "/write", "/clear"])
@pytest.mark.parametrize("with_cookie", [False, True, "other"])
def test_answers_as_flasks_session_interface(path, with_cookie):
    ours, flasks = make_app(True), make_app(False)
    cookie = {False: None, True: session_cookie_of(flasks), "other": "theme=dark"}[with_cookie]
    status, body, headers = answer(ours, path, cookie)
    status_f, body_f, headers_f = answer(flasks, path, cookie)
    assert (status, body) == (status_f, body_f)
    assert headers.getlist("Set-Cookie") == headers_f.getlist("Set-Cookie")
    assert headers.get("Vary") == headers_f.get("Vary")


def test_a_signed_session_is_read_back_and_a_forged_one_is_empty():
    app = make_app(True)
    cookie = session_cookie_of(app)
    assert "SameSite=Lax" in answer(app, "/write")[2]["Set-Cookie"]
    assert answer(app, "/read", cookie)[1] == "token"
    assert answer(app, "/read", cookie[:-2] + "xx")[1] == "none"


def test_no_cookie_opens_the_empty_session_without_the_serializer(monkeypatch):
    app = make_app(True)
    built = []
    interface = app.session_interface
    original = type(interface).get_signing_serializer
    monkeypatch.setattr(
        type(interface),
        "get_signing_serializer",
        lambda self, a: built.append(1) or original(self, a),
    )
    assert answer(app, "/untouched")[0] == 200
    assert answer(app, "/read")[1] == "none"
    assert built == []
    assert answer(app, "/write")[2]["Set-Cookie"]  # a session to save: signed as ever
    assert built


def test_the_serializer_is_built_once_per_secret():
    app = make_app(True)
    cookie = session_cookie_of(app)
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert answer(app, "/read", cookie)[1] == "token"
    assert interface.get_signing_serializer(app) is first
    app.secret_key = "rotated"
    assert interface.get_signing_serializer(app) is not first
    assert answer(app, "/read", cookie)[1] == "none"  # signed with the old secret
    app.config["SECRET_KEY_FALLBACKS"] = ["test-secret"]
    assert answer(app, "/read", cookie)[1] == "token"
