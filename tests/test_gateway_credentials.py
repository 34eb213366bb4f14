"""§8 on the wire: on ``/gateway/`` the MLflow credential rides in ``X-MLflow-Authorization``.

A real ``mlflow server --app-name ldap-auth`` (against the real slapd) serves an AI Gateway
endpoint whose Anthropic ``api_base`` is a fake provider on loopback that records every
request it receives. Proven here:

1. a coding agent (``User-Agent: claude-cli/...``) sends its MLflow login in
   ``X-MLflow-Authorization`` and its own provider key in ``Authorization``: it is
   authenticated as that directory user (the identity really comes from
   ``X-MLflow-Authorization``), and the provider receives the provider key but never the
   MLflow header nor the directory password;
2. an old-style client sending only ``Authorization: Basic`` on ``/gateway/`` still logs in,
   and its directory password is never forwarded to the provider;
3. a non-empty ``X-MLflow-Authorization`` decides on ``/gateway/`` (a wrong password there is
   a 401 even when ``Authorization`` holds valid credentials); an empty one falls back to
   ``Authorization``, as MLflow's own basic auth does;
4. outside ``/gateway/`` ``X-MLflow-Authorization`` is ignored: only ``Authorization`` counts;
5. an MLflow access token never reaches the provider, wherever the client puts it: as
   the MLflow credential (Bearer, Basic password or username), in ``Authorization`` under
   any scheme or bare, in ``x-api-key``, in any other header, inside Basic credentials;
   a provider key sent alongside still goes through.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from servers import USERS_DN, free_port, start_server

PASSTHROUGH = "/gateway/anthropic/v1/messages"
EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"
ENDPOINT = "fake-anthropic"
PROVIDER_KEY = "sk-provider-key-123"  # the coding agent's own key, for the provider
SERVER_KEY = "sk-server-side-key-456"  # the key stored in the gateway secret
CLAUDE_CLI = "claude-cli/1.0.0 (external, cli)"
ALICE = ("alice", "alice-password")
TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
BOB = ("bob", "bob-password")
ADMIN = ("carol", "carol-password")  # a member of the directory's admin group
ANTHROPIC_REPLY = {
    "id": "msg_fake_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-fake-1",
    "content": [{"type": "text", "text": "pong"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}


@dataclass(frozen=True)
class UpstreamRequest:
    path: str
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class FakeAnthropic:
    """A loopback "Anthropic API" that records each request and answers one message."""

    def __init__(self) -> None:
        self.requests: list[UpstreamRequest] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                recorded = UpstreamRequest(self.path, list(self.headers.items()), body)
                with recorder._lock:
                    recorder.requests.append(recorded)
                payload = json.dumps(ANTHROPIC_REPLY).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # quiet: the recorder is the log
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def received(self, nonce: str) -> list[UpstreamRequest]:
        with self._lock:
            return [r for r in self.requests if nonce in r.body]


def basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()


def leaks(request: UpstreamRequest, secret: str) -> list[str]:
    """Headers that carry ``secret`` as plain text or inside a base64 token (HTTP Basic)."""
    found = []
    for name, value in request.headers:
        decoded = []
        for token in value.split():
            try:
                decoded.append(base64.b64decode(token, validate=True).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                pass
        if secret in value or any(secret in text for text in decoded):
            found.append(name)
    return found


def call_gateway(server, headers: dict[str, str]) -> tuple[requests.Response, str]:
    """POST one Anthropic message through the passthrough route; returns (response, nonce)."""
    nonce = f"nonce-{uuid.uuid4().hex}"
    body = {
        "model": ENDPOINT,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": f"ping {nonce}"}],
    }
    response = requests.post(server.url + PASSTHROUGH, json=body, headers=headers, timeout=60)
    return response, nonce


def assert_challenge(response):
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'


def api(server, method: str, path: str, payload: dict) -> dict:
    response = requests.request(method, server.url + path, json=payload, auth=ADMIN, timeout=30)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def create_gateway_endpoint(server, upstream: FakeAnthropic) -> str:
    """Secret -> model definition -> endpoint, as a directory admin; returns the endpoint id."""
    secret = api(
        server,
        "POST",
        "/api/3.0/mlflow/gateway/secrets/create",
        {
            "secret_name": "fake-anthropic-key",
            "secret_value": {"api_key": SERVER_KEY},
            "provider": "anthropic",
            "auth_config": {"api_base": upstream.url + "/v1"},
        },
    )["secret"]
    model = api(
        server,
        "POST",
        "/api/3.0/mlflow/gateway/model-definitions/create",
        {
            "name": "fake-anthropic-model",
            "secret_id": secret["secret_id"],
            "provider": "anthropic",
            "model_name": "claude-fake-1",
        },
    )["model_definition"]
    endpoint = api(
        server,
        "POST",
        "/api/3.0/mlflow/gateway/endpoints/create",
        {
            "name": ENDPOINT,
            "model_configs": [
                {
                    "model_definition_id": model["model_definition_id"],
                    "linkage_type": "PRIMARY",
                    "weight": 1.0,
                }
            ],
            "usage_tracking": False,
        },
    )["endpoint"]
    return endpoint["endpoint_id"]


@pytest.fixture(scope="module")
def gateway(slapd, tmp_path_factory):
    """(server, upstream): ldap-auth MLflow with an endpoint on the fake provider.

    alice holds USE on the endpoint; bob has only ``default_permission`` (READ), which
    does not allow invoking it.
    """
    env = {
        "MLFLOW_CRYPTO_KEK_PASSPHRASE": "gateway-test-kek-passphrase",
        # The fake provider is plain HTTP on 127.0.0.1: allowed on write and at egress.
        "MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true",
    }
    with (
        FakeAnthropic() as upstream,
        start_server(
            tmp_path_factory, slapd, name="gateway", env=env, allowed_groups=USERS_DN
        ) as server,
    ):
        for user in (ALICE, BOB):  # first logins create the MLflow users
            login = requests.get(server.url + EXPERIMENT_0, auth=user, timeout=30)
            assert login.status_code == 200, login.text
        endpoint_id = create_gateway_endpoint(server, upstream)
        api(
            server,
            "POST",
            "/api/3.0/mlflow/users/permissions/grant",
            {
                "username": "alice",
                "resource_type": "gateway_endpoint",
                "resource_id": endpoint_id,
                "permission": "USE",
            },
        )
        yield server, upstream


def test_agent_sends_mlflow_login_in_x_mlflow_authorization_and_key_in_authorization(gateway):
    server, upstream = gateway
    response, nonce = call_gateway(
        server,
        {
            "X-MLflow-Authorization": basic(ALICE),
            "Authorization": f"Bearer {PROVIDER_KEY}",
            "User-Agent": CLAUDE_CLI,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "pong"
    [forwarded] = upstream.received(nonce)
    assert forwarded.path == "/v1/messages"
    assert forwarded.header("Authorization") == [f"Bearer {PROVIDER_KEY}"]
    assert forwarded.header("X-MLflow-Authorization") == []
    assert leaks(forwarded, "alice-password") == []


def test_gateway_identity_is_the_one_in_x_mlflow_authorization(gateway):
    """bob, logged in through X-MLflow-Authorization, is bob: no USE grant, so 403."""
    server, upstream = gateway
    response, nonce = call_gateway(
        server,
        {
            "X-MLflow-Authorization": basic(BOB),
            "Authorization": f"Bearer {PROVIDER_KEY}",
            "User-Agent": CLAUDE_CLI,
        },
    )
    assert response.status_code == 403, response.text
    assert upstream.received(nonce) == []


def test_old_style_basic_authorization_still_logs_in_and_is_never_forwarded(gateway):
    server, upstream = gateway
    response, nonce = call_gateway(
        server, {"Authorization": basic(ALICE), "User-Agent": CLAUDE_CLI}
    )
    assert response.status_code == 200, response.text
    [forwarded] = upstream.received(nonce)
    assert leaks(forwarded, "alice-password") == [], forwarded.headers
    assert not [v for v in forwarded.header("Authorization") if v.lower().startswith("basic")]


def test_wrong_x_mlflow_authorization_decides_even_with_valid_authorization(gateway):
    server, upstream = gateway
    response, nonce = call_gateway(
        server,
        {
            "X-MLflow-Authorization": basic(("alice", "wrong-password-17")),
            "Authorization": basic(ALICE),
            "User-Agent": CLAUDE_CLI,
        },
    )
    assert_challenge(response)
    assert upstream.received(nonce) == []


def test_empty_x_mlflow_authorization_falls_back_to_authorization(gateway):
    server, upstream = gateway
    response, nonce = call_gateway(
        server, {"X-MLflow-Authorization": "", "Authorization": basic(ALICE)}
    )
    assert response.status_code == 200, response.text
    [forwarded] = upstream.received(nonce)
    assert leaks(forwarded, "alice-password") == []


def test_x_mlflow_authorization_is_ignored_outside_gateway(gateway):
    server, _ = gateway
    only_x_header = requests.get(
        server.url + EXPERIMENT_0, headers={"X-MLflow-Authorization": basic(ALICE)}, timeout=30
    )
    assert_challenge(only_x_header)
    wrong_x_header = requests.get(
        server.url + EXPERIMENT_0,
        headers={
            "X-MLflow-Authorization": basic(("alice", "wrong-password-17")),
            "Authorization": basic(ALICE),
        },
        timeout=30,
    )
    assert wrong_x_header.status_code == 200, wrong_x_header.text
    assert wrong_x_header.json()["experiment"]["experiment_id"] == "0"


@pytest.fixture(scope="module")
def alice_token(gateway) -> str:
    """The secret of an access token of alice's (who may use the endpoint)."""
    server, _ = gateway
    response = requests.post(
        server.url + TOKENS, json={"name": "agent", "expires_in_days": 1}, auth=ALICE, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["secret"]


#: Where clients put a token. "{...}" is filled in per test: ``secret``, alice's login
#: with her password (``alice_login``), Basic ``alice:<secret>`` (``alice_and_secret``)
#: and GitHub style Basic ``<secret>:x-oauth-basic`` (``secret_as_username``).
TOKEN_PLACES = {
    "Token scheme in Authorization": {
        "X-MLflow-Authorization": "{alice_login}",
        "Authorization": "Token {secret}",
        "User-Agent": CLAUDE_CLI,
    },
    "bare in Authorization": {
        "X-MLflow-Authorization": "{alice_login}",
        "Authorization": "{secret}",
        "User-Agent": CLAUDE_CLI,
    },
    "x-api-key": {
        "X-MLflow-Authorization": "{alice_login}",
        "x-api-key": "{secret}",
        "Authorization": f"Bearer {PROVIDER_KEY}",
        "User-Agent": CLAUDE_CLI,
    },
    "another header": {  # not a coding agent: MLflow forwards its other headers too
        "X-MLflow-Authorization": "{alice_login}",
        "X-Upstream-Credential": "Bearer {secret}",
    },
    "inside Basic in another header": {
        "X-MLflow-Authorization": "{alice_login}",
        "X-Upstream-Credential": "Basic {alice_and_secret}",
        "Authorization": f"Bearer {PROVIDER_KEY}",
        "User-Agent": CLAUDE_CLI,
    },
    "Bearer as the MLflow login": {
        "X-MLflow-Authorization": "Bearer {secret}",
        "Authorization": f"Bearer {PROVIDER_KEY}",
        "User-Agent": CLAUDE_CLI,
    },
    "Bearer in Authorization": {"Authorization": "Bearer {secret}", "User-Agent": CLAUDE_CLI},
    "Basic password in Authorization": {
        "Authorization": "Basic {alice_and_secret}",
        "User-Agent": CLAUDE_CLI,
    },
    "GitHub-style Basic username in Authorization": {
        "Authorization": "Basic {secret_as_username}",
        "User-Agent": CLAUDE_CLI,
    },
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("place", sorted(TOKEN_PLACES))
def test_an_mlflow_token_never_reaches_the_provider(gateway, alice_token, place):
    server, upstream = gateway
    values = {
        "secret": alice_token,
        "alice_login": basic(ALICE),
        "alice_and_secret": b64(f"alice:{alice_token}"),
        "secret_as_username": b64(f"{alice_token}:x-oauth-basic"),
    }
    headers = {name: value.format(**values) for name, value in TOKEN_PLACES[place].items()}
    response, nonce = call_gateway(server, headers)
    assert response.status_code == 200, response.text  # alice, who may use the endpoint
    [forwarded] = upstream.received(nonce)
    assert leaks(forwarded, alice_token) == [], forwarded.headers
    assert leaks(forwarded, ALICE[1]) == [], forwarded.headers
    if f"Bearer {PROVIDER_KEY}" in headers.values():  # the provider key goes through
        assert forwarded.header("Authorization") == [f"Bearer {PROVIDER_KEY}"]
