"""Each request on a connection is answered as its own sender, however it arrives.

HTTP/1.1 lets a client (or a proxy that shares one upstream connection among many
clients) send several requests back to back without waiting for the answers. uvicorn
then starts the next request's task from inside the one before it, so that task begins
with a copy of the previous request's context variables. The answer computed ahead of
MLflow for a native FastAPI route (``web.preauth``) must never be taken for the next
request's.

A real ``mlflow server --app-name ldap-auth`` (one worker, so every request of the
connection meets the same process) against the real slapd; the requests are written to
a raw socket in ONE write and the answers read back in order. After a native-route
request (``POST /v1/traces``, which MLflow authenticates in its FastAPI middleware) by
carol, a directory admin, or by alice:

* bob's ``users/current`` names bob;
* an anonymous ``experiments/create`` is challenged (401) and creates nothing;
* bob on the admin-only status API gets 403;
* a wrong password is refused.

Orderings vary, and the native request is checked both fresh (caches flushed: the
answer comes from a worker thread) and from the credential cache (on the event loop).

Not only pipelining: after an upload larger than uvicorn's read buffer, asyncio reads
a keep-alive connection's next requests in the uploading request's context, so
requests sent one after the other on one connection (what a reverse proxy with
upstream keep-alive does for many people) are checked the same way.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import uuid
from dataclasses import dataclass

import pytest
import requests

from servers import CAROL, PASSWORDS, USERS_DN, flush_caches, start_server

ALICE = ("alice", PASSWORDS["alice"])
BOB = ("bob", PASSWORDS["bob"])
CURRENT_USER = "/api/2.0/mlflow/users/current"
CREATE_EXPERIMENT = "/api/2.0/mlflow/experiments/create"
GET_EXPERIMENT = "/api/2.0/mlflow/experiments/get-by-name"
STATUS = "/api/2.0/mlflow/ldap-auth/status"
TRACES = "/v1/traces"
#: The longest any one answer may take on a busy machine (as the other tests' requests).
ANSWER_TIMEOUT = 30
WRONG_PASSWORD = "not-bobs-password-3"
#: Well over uvicorn's 64 KiB read buffer (its flow control pauses reading above it).
LARGE_BODY = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory, slapd, name="pipelining", allowed_groups=USERS_DN
    ) as running:
        for user in (ALICE, BOB, CAROL):  # first logins provision the MLflow users
            login = requests.get(running.url + CURRENT_USER, auth=user, timeout=30)
            assert login.status_code == 200, login.text
        yield running


@dataclass(frozen=True)
class Call:
    """One request to pipeline, and what its own sender must get back."""

    label: str
    method: str
    path: str
    auth: tuple[str, str] | None
    body: bytes = b""
    content_type: str | None = None

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            lines.append(f"Authorization: Basic {token}")
        if self.content_type:
            lines.append(f"Content-Type: {self.content_type}")
        if self.path == TRACES:
            lines.append("X-Mlflow-Experiment-Id: 0")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


class _SharedReader(io.BufferedReader):
    """One buffered reader for all answers of the connection, in order.

    ``http.client.HTTPResponse`` closes its reader when an answer is read to the end;
    the bytes already buffered belong to the next answer, so closing is left to the test.
    """

    def close(self) -> None:
        pass


class RawConnection:
    """One HTTP/1.1 connection to ``server``: requests written as given, answers in order."""

    def __init__(self, server) -> None:
        self.host = f"127.0.0.1:{server.port}"
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_TIMEOUT)
        self.reader = _SharedReader(socket.SocketIO(self.sock, "rb"))

    def makefile(self, *args, **kwargs):
        """What ``http.client.HTTPResponse`` reads from: the one shared reader."""
        return self.reader

    def send(self, calls: list[Call]) -> None:
        """All of ``calls`` in one write: pipelined when there are several."""
        self.sock.sendall(b"".join(call.encode(self.host) for call in calls))

    def answer(self, call: Call) -> Answer:
        response = http.client.HTTPResponse(self, method=call.method)
        response.begin()
        answer = Answer(response.status, response.msg, response.read())
        assert not response.will_close, f"the server closed the connection after {call.label}"
        return answer

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc) -> None:
        io.BufferedReader.close(self.reader)
        self.sock.close()


def pipelined(server, calls: list[Call]) -> list[Answer]:
    """Send ``calls`` in one write on one connection; their answers, in order."""
    with RawConnection(server) as connection:
        connection.send(calls)
        return [connection.answer(call) for call in calls]


def native_as(user: tuple[str, str], body: bytes = b"") -> Call:
    # No spans in the body: authorized requests reach the handler, which answers 400.
    return Call(
        f"native as {user[0]}", "POST", TRACES, user, body, content_type="application/x-protobuf"
    )


def bob_current() -> Call:
    return Call("bob's users/current", "GET", CURRENT_USER, BOB)


def anonymous_create(name: str) -> Call:
    body = json.dumps({"name": name}).encode()
    return Call(
        "anonymous experiments/create",
        "POST",
        CREATE_EXPERIMENT,
        None,
        body=body,
        content_type="application/json",
    )


def bob_status() -> Call:
    return Call("bob on the status API", "GET", STATUS, BOB)


def wrong_password() -> Call:
    return Call("bob, wrong password", "GET", CURRENT_USER, ("bob", WRONG_PASSWORD))


def assert_own_answer(server, call: Call, answer: Answer, experiment: str) -> None:
    """The answer ``call`` gets when it is the only request on its connection."""
    where = f"{call.label}: {answer.status} {answer.body[:300]!r}"
    if call.path == TRACES:
        # carol is an admin: the handler answers the empty body (400); alice may only
        # read experiment 0, so MLflow's validator refuses her trace upload (403).
        assert answer.status == (400 if call.auth == CAROL else 403), where
    elif call.auth is None or call.auth[1] == WRONG_PASSWORD:
        assert answer.status == 401, where
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="mlflow"', where
    elif call.path == CURRENT_USER:
        assert answer.status == 200, where
        assert answer.json()["user"]["username"] == call.auth[0], where
    elif call.path == STATUS:
        assert answer.status == 403, where
    else:
        raise AssertionError(f"no expectation for {call.label}")
    if call.path == CREATE_EXPERIMENT:
        assert not experiment_exists(server, experiment), where


def experiment_exists(server, name: str) -> bool:
    found = requests.get(
        server.url + GET_EXPERIMENT, params={"experiment_name": name}, auth=CAROL, timeout=30
    )
    assert found.status_code in (200, 404), found.text
    return found.status_code == 200


ORDERINGS = {
    "admin native first": lambda name: [
        native_as(CAROL),
        bob_current(),
        anonymous_create(name),
        bob_status(),
    ],
    "anonymous right after": lambda name: [
        native_as(CAROL),
        anonymous_create(name),
        bob_status(),
        wrong_password(),
        bob_current(),
    ],
    "native in the middle": lambda name: [
        bob_current(),
        native_as(CAROL),
        bob_status(),
        native_as(ALICE),
        anonymous_create(name),
        bob_current(),
    ],
    "non-admin native first": lambda name: [
        native_as(ALICE),
        bob_current(),
        wrong_password(),
        anonymous_create(name),
    ],
}


@pytest.mark.parametrize("ordering", sorted(ORDERINGS))
@pytest.mark.parametrize("check", ["fresh", "cached"])
def test_each_pipelined_request_gets_its_own_answer(server, ordering, check):
    if check == "fresh":
        flush_caches(server)  # the native request's answer comes from a worker thread
    else:
        for user in (ALICE, BOB, CAROL):  # in the credential cache: answered on the loop
            warm = requests.get(server.url + CURRENT_USER, auth=user, timeout=30)
            assert warm.status_code == 200, warm.text
    name = f"pipelined-{uuid.uuid4().hex}"
    calls = ORDERINGS[ordering](name)
    answers = pipelined(server, calls)
    for call, answer in zip(calls, answers, strict=True):
        assert_own_answer(server, call, answer, name)


def test_keep_alive_after_a_large_upload_gets_its_own_answer(server):
    """Not pipelined: each request is sent once the answer before it is read.

    A body larger than uvicorn's read buffer makes it pause reading the connection and
    resume from inside the request's task; asyncio then reads the connection's later
    requests in that task's context, so they start with its context variables too.
    """
    flush_caches(server)
    name = f"keep-alive-{uuid.uuid4().hex}"
    calls = [
        native_as(CAROL, body=bytes(LARGE_BODY)),
        bob_current(),
        anonymous_create(name),
        bob_status(),
        native_as(ALICE, body=bytes(LARGE_BODY)),
        bob_current(),
    ]
    with RawConnection(server) as connection:
        for call in calls:
            connection.send([call])
            assert_own_answer(server, call, connection.answer(call), name)
