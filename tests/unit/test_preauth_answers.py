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

import pytest
from flask import Flask
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.plugin import EXTENSION
from mlflow_ldap_auth.sessions import secret_format as session_format
from mlflow_ldap_auth.tokens.secret_format import new_secret
from mlflow_ldap_auth.web import authn
from mlflow_ldap_auth.web.credentials import COOKIE, HEADER, SESSION_COOKIE
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

    def audit_refusal(self, login, source, error, method="password"):
        pass


class Sessions:
    """The session check's part authn uses: one live session per user; counts the checks."""

    def __init__(self) -> None:
        self.secrets = {user: session_format.new_secret() for user in PASSWORDS}
        self.checks: list[str] = []

    def authenticate(self, secret, source):
        owner = {value: user for user, value in self.secrets.items()}.get(secret)
        self.checks.append(owner or "?")
        if owner is None:
            raise InvalidCredentials("unknown session", reason="unknown_session")
        return Principal(username=owner, is_admin=False, method="session")

    def cookie(self, user: str) -> bytes:
        return f"theme=dark; {SESSION_COOKIE}={self.secrets[user]}".encode()


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
        self.sessions = Sessions()
        self.flask.extensions[EXTENSION] = SimpleNamespace(
            login_service=self.directory,
            tokens=SimpleNamespace(peek=lambda *a: None),
            sessions=self.sessions,
            negotiate=None,
        )
        self.seen: dict[str, str | int] = {}  # request label -> username or status
        self.headers_seen: dict[str, dict[str, str]] = {}
        self.during: dict[str, object] = {}  # label -> coroutine run inside that request
        self.middleware = PreAuthMiddleware(
            self.inner, self.flask, will_authenticate=lambda path, method: path != FLASK_ROUTE
        )

    async def inner(self, scope, receive, send):
        label = dict(scope["headers"])[b"x-label"].decode()
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # the first of each, as MLflow's dict(headers)
            headers.setdefault(name.decode(), value.decode("latin-1"))
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

    async def request(self, label: str, path: str, headers=(), method: str = "POST") -> None:
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            pass

        scope = scope_for(path, [(b"x-label", label.encode()), *headers], method)
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
    app.extensions[EXTENSION] = SimpleNamespace(login_service=directory, negotiate=None)
    alices = authn.Preauthenticated(
        Authorization("basic", {"username": "alice"}),
        authn.credentials_digest((HEADER, basic("alice").decode())),
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


# -- the session cookie ----------------------------------------------------------------
def test_a_cookie_request_is_answered_by_preauth_for_its_own_cookie():
    world = World()
    world.during["alice-cookie"] = world.request(
        "bob-cookie", NATIVE, [(b"cookie", world.sessions.cookie("bob"))]
    )
    world.during["bob-cookie"] = world.request("anonymous", NATIVE)
    run(world.request("alice-cookie", NATIVE, [(b"cookie", world.sessions.cookie("alice"))]))
    assert world.seen == {"alice-cookie": "alice", "bob-cookie": "bob", "anonymous": 401}
    # Each cookie checked once, off the loop, by preauth; MLflow's ask took that answer.
    assert world.sessions.checks == ["alice", "bob"]


def test_an_answer_for_one_cookie_never_serves_another():
    app = Flask(__name__)
    sessions = Sessions()
    app.extensions[EXTENSION] = SimpleNamespace(
        login_service=Directory(), sessions=sessions, negotiate=None
    )
    alice = sessions.secrets["alice"]
    alices = authn.Preauthenticated(
        Authorization("basic", {"username": "alice"}), authn.credentials_digest((COOKIE, alice))
    )
    token = authn.preauthenticated.set(alices)
    try:
        with app.test_request_context(headers={"Cookie": f"{SESSION_COOKIE}={alice}"}):
            assert authn.authenticate_request().username == "alice"
        with app.test_request_context(headers={"Cookie": sessions.cookie("bob").decode()}):
            assert authn.authenticate_request().username == "bob"
        # The same text in a header is another credential (and no good one).
        with app.test_request_context(headers={"Authorization": alice}):
            assert authn.authenticate_request().status_code == 401
    finally:
        authn.preauthenticated.reset(token)
    assert sessions.checks == ["bob"]


def test_several_cookie_headers_are_judged_as_mlflow_sees_them():
    """MLflow's middleware passes on the first of each header; preauth answers for it."""
    world = World()
    run(
        world.request(
            "two-jars",
            NATIVE,
            [
                (b"cookie", world.sessions.cookie("alice")),
                (b"cookie", world.sessions.cookie("bob")),
            ],
        )
    )
    assert world.seen == {"two-jars": "alice"}
    assert world.sessions.checks == ["alice"]


def test_a_session_that_is_over_is_401_without_a_challenge_on_native_routes():
    world = World()
    forged = f"{SESSION_COOKIE}={session_format.new_secret()}".encode()
    answers = []

    async def inner(scope, receive, send):
        with world.flask.test_request_context(path=scope["path"], method=scope["method"]):
            answers.append(authn.preauthenticated.get().answer)

    world.middleware.app = inner
    run(world.request("over", NATIVE, [(b"cookie", forged)]))
    [answer] = answers
    assert answer.status_code == 401
    assert "WWW-Authenticate" not in answer.headers
    assert answer.json["error_code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"origin", b"https://evil.example")], 403),
        ([(b"origin", b"http://testserver.evil.example")], 403),
        ([(b"sec-fetch-site", b"cross-site")], 403),
        ([(b"origin", b"http://testserver"), (b"sec-fetch-site", b"same-origin")], "alice"),
        ([], "alice"),
    ],
    ids=["foreign-origin", "look-alike-origin", "cross-site", "same-origin", "no-headers"],
)
def test_the_cross_site_rule_holds_on_native_routes(headers, expected):
    world = World()
    run(world.request("write", NATIVE, [(b"cookie", world.sessions.cookie("alice")), *headers]))
    assert world.seen == {"write": expected}


def test_a_cross_site_read_on_a_native_route_is_served():
    world = World()
    cookie = (b"cookie", world.sessions.cookie("alice"))
    run(world.request("read", NATIVE, [cookie, (b"origin", b"https://evil.example")], "GET"))
    assert world.seen == {"read": "alice"}


def test_on_the_gateway_the_cookie_is_used_and_never_passed_on():
    world = World()
    run(
        world.request(
            "alice-gateway",
            GATEWAY,
            [
                (b"cookie", world.sessions.cookie("alice")),
                (b"authorization", b"Bearer sk-provider-key"),
            ],
        )
    )
    assert world.seen == {"alice-gateway": "alice"}
    kept = world.headers_seen["alice-gateway"]
    assert "cookie" not in kept
    assert kept["authorization"] == "Bearer sk-provider-key"


def test_on_the_gateway_x_mlflow_authorization_wins_over_the_cookie():
    world = World()
    run(
        world.request(
            "bob-header",
            GATEWAY,
            [
                (b"cookie", world.sessions.cookie("alice")),
                (b"x-mlflow-authorization", basic("bob")),
            ],
        )
    )
    assert world.seen == {"bob-header": "bob"}
    assert world.sessions.checks == []
    assert "cookie" not in world.headers_seen["bob-header"]


def test_on_the_gateway_no_cookie_of_this_server_is_passed_on():
    """The Flask session cookie (its CSRF token) is this server's, never the provider's."""
    world = World()
    run(
        world.request(
            "alice-gateway",
            GATEWAY,
            [
                (b"x-mlflow-authorization", basic("alice")),
                (b"cookie", b"session=eyJjc3JmX3Rva2VuIjoiYWJjIn0.flask-signature"),
            ],
        )
    )
    assert world.seen == {"alice-gateway": "alice"}
    assert "cookie" not in world.headers_seen["alice-gateway"]
