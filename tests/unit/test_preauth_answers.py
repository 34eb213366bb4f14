"""``preauth``'s answer serves the request it was computed for, and no other.

ASGI calls on ``PreAuthMiddleware`` around an app that authenticates the way MLflow's
FastAPI middleware does (a synthetic Flask request built from the scope, then the
``authorization_function``). A request started from inside another one, as uvicorn
starts a pipelined request, begins with a copy of that request's context variables.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from types import SimpleNamespace

from flask import Flask
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.plugin import EXTENSION
from mlflow_ldap_auth.tokens.secret_format import new_secret
from mlflow_ldap_auth.web import authn
from mlflow_ldap_auth.web.preauth import PreAuthMiddleware

NATIVE = "/v1/traces"
GATEWAY = "/gateway/anthropic/v1/messages"
FLASK_ROUTE = "/api/2.0/mlflow/users/current"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


class Directory:
    """The login service's part the middleware uses; counts the checks."""

    def __init__(self) -> None:
        self.logins: list[str] = []

    def login(self, login, password, source):
        self.logins.append(login)
        if PASSWORDS.get(login) != password:
            raise InvalidCredentials("wrong")
        return Principal(username=login, is_admin=False)

    def peek(self, login, password):
        return None  # nothing cached: every answer is a fresh check

    def audit_refusal(self, login, source, error):
        pass


def basic(user: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{PASSWORDS[user]}".encode())


def scope_for(path: str, headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("192.0.2.7", 4000),
    }


class World:
    """A Flask app, the middleware around an app that authenticates like MLflow's."""

    def __init__(self) -> None:
        self.flask = Flask(__name__)
        self.directory = Directory()
        self.flask.extensions[EXTENSION] = SimpleNamespace(
            login_service=self.directory, tokens=SimpleNamespace(peek=lambda *a: None)
        )
        self.seen: dict[str, str | int] = {}  # request label -> username or status
        self.headers_seen: dict[str, dict[str, str]] = {}
        self.during: dict[str, object] = {}  # label -> coroutine run inside that request
        self.middleware = PreAuthMiddleware(
            self.inner, self.flask, will_authenticate=lambda path, method: path != FLASK_ROUTE
        )

    async def inner(self, scope, receive, send):
        label = dict(scope["headers"])[b"x-label"].decode()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.headers_seen[label] = headers
        with self.flask.test_request_context(
            path=scope["path"], method=scope["method"], headers=headers
        ):
            result = authn.authenticate_request()
        self.seen[label] = (
            result.username if isinstance(result, Authorization) else result.status_code
        )
        if label in self.during:
            # What uvicorn does for a pipelined request: its task starts in this one.
            await asyncio.get_running_loop().create_task(self.during.pop(label))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def request(self, label: str, path: str, headers=()) -> None:
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            pass

        scope = scope_for(path, [(b"x-label", label.encode()), *headers])
        await self.middleware(scope, receive, send)


def run(coroutine) -> None:
    """On a loop of its own thread (a browser test may have left one running in this one)."""
    failures = []

    def target():
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def test_a_request_started_inside_another_gets_its_own_answer():
    world = World()
    world.during["alice-native"] = world.request(
        "bob-flask", FLASK_ROUTE, [(b"authorization", basic("bob"))]
    )
    world.during["bob-flask"] = world.request("anonymous-flask", FLASK_ROUTE)
    world.during["anonymous-flask"] = world.request(
        "bob-native", NATIVE, [(b"authorization", basic("bob"))]
    )
    run(world.request("alice-native", NATIVE, [(b"authorization", basic("alice"))]))
    assert world.seen == {
        "alice-native": "alice",
        "bob-flask": "bob",
        "anonymous-flask": 401,
        "bob-native": "bob",
    }
    # One check per request: the native ones were answered by preauth alone.
    assert world.directory.logins == ["alice", "bob", "bob"]


def test_the_answer_is_taken_only_for_the_credentials_it_answers():
    app = Flask(__name__)
    directory = Directory()
    app.extensions[EXTENSION] = SimpleNamespace(login_service=directory)
    alices = authn.Preauthenticated(
        Authorization("basic", {"username": "alice"}),
        authn.credentials_digest(basic("alice").decode()),
    )
    token = authn.preauthenticated.set(alices)
    try:
        with app.test_request_context(headers={"Authorization": basic("alice").decode()}):
            assert authn.authenticate_request().username == "alice"
        with app.test_request_context(headers={"Authorization": basic("bob").decode()}):
            assert authn.authenticate_request().username == "bob"
        with app.test_request_context():
            assert authn.authenticate_request().status_code == 401
    finally:
        authn.preauthenticated.reset(token)
    assert directory.logins == ["bob"]


def test_gateway_credentials_taken_off_the_request_still_authenticate_it():
    """MLflow sees the gateway request without the credential; preauth's answer stands."""
    world = World()
    run(
        world.request(
            "alice-gateway",
            GATEWAY,
            [(b"x-mlflow-authorization", basic("alice")), (b"authorization", basic("alice"))],
        )
    )
    assert world.seen == {"alice-gateway": "alice"}
    assert world.directory.logins == ["alice"]
    assert "authorization" not in world.headers_seen["alice-gateway"]
    assert "x-mlflow-authorization" not in world.headers_seen["alice-gateway"]


def test_on_the_gateway_only_headers_without_our_credentials_go_on():
    secret = new_secret()
    world = World()
    run(
        world.request(
            "gateway",
            GATEWAY,
            [
                (b"x-mlflow-authorization", basic("alice")),
                (b"authorization", b"Bearer sk-provider-key"),
                (b"x-api-key", secret.encode()),
                (b"x-other", b"Token " + secret.encode()),
                (b"x-basic", b"Basic " + base64.b64encode(f"alice:{secret}".encode())),
                (b"x-plain-basic", b"Basic " + base64.b64encode(b"proxy:proxy-password")),
                (b"anthropic-version", b"2023-06-01"),
            ],
        )
    )
    assert world.seen == {"gateway": "alice"}
    kept = world.headers_seen["gateway"]
    assert kept["authorization"] == "Bearer sk-provider-key"
    assert kept["anthropic-version"] == "2023-06-01"
    assert "x-plain-basic" in kept  # not an MLflow credential
    assert not {"x-mlflow-authorization", "x-api-key", "x-other", "x-basic"} & set(kept)
