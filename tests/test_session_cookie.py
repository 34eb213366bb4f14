"""The session cookie on every request (docs/security.md#cross-site-requests,
docs/reference/answers.md#sessions), against a real two-worker
``mlflow server --app-name ldap-auth`` and a second server sharing its PostgreSQL
database, both against the real slapd.

Sessions are made as the sign-in page makes them, on the servers' database
(``SessionStore.create`` after a fresh bind recorded the owner's check); the cookie is
the secret it returns. Proven here: MLflow's REST API, its UI's ``ajax-api`` fetches,
native FastAPI routes (OTLP traces, artifacts, the gateway), ``/ldap-admin`` all serve
the session's user, with MLflow's permissions; a cross-site write on the cookie is
refused and changes nothing; a session that is over (unknown, ended, idle, expired) is
401 without a Basic challenge; a sign-out holds at once on every worker and on the
other server; a user removed from the directory loses their sessions within the
revalidation interval while another user's keeps working; Basic credentials and tokens
win over a cookie; the secret is in no log, page or table.

The module has its own slapd (a user is removed from it) and checks users every
``revalidate_interval_seconds = 10`` (its minimum), so that wait is the product's bound.
"""

from __future__ import annotations

import base64
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from test_gateway_credentials import (
    CLAUDE_CLI,
    PROVIDER_KEY,
    FakeAnthropic,
    call_gateway,
    create_gateway_endpoint,
    leaks,
)

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.revalidation import STATUS_TTL_SECONDS, tick_seconds
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.sessions.secret_format import new_secret, secret_hash
from mlflow_ldap_auth.sessions.store import SessionStore
from servers import (
    CAROL,
    PEOPLE_DN,
    add_person,
    audit_lines,
    start_server,
    wait_for_audit,
    wait_until,
)

ALICE = ("alice", "alice-password")
BOB = ("bob", "bob-password")
COOKIE = "mlflow_ldap_session"
API = "/api/2.0/mlflow"
ME = "/api/2.0/mlflow/ldap-auth/me"
SEARCH = API + "/experiments/search?max_results=10"
IDLE_SECONDS = 600
REVALIDATE_SECONDS = 10
#: From a change in the directory to every worker acting on it: the user's next check
#: is due within the interval, its result reaches every worker within the status TTL.
TAKES_EFFECT = REVALIDATE_SECONDS + 2 * tick_seconds(REVALIDATE_SECONDS) + STATUS_TTL_SECONDS
LEAVER = ("leaver", "leaver-password")
GATEWAY_ENV = {
    "MLFLOW_CRYPTO_KEK_PASSPHRASE": "session-cookie-kek-passphrase",
    "MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true",
}


@pytest.fixture(scope="module")
def auth_db(postgres):
    return postgres.create_database("session_cookie_auth")


@pytest.fixture(scope="module")
def upstream():
    with FakeAnthropic() as provider:
        yield provider


@pytest.fixture(scope="module")
def directory(own_slapd):
    add_person(own_slapd, *LEAVER)
    return own_slapd


@pytest.fixture(scope="module")
def server(directory, auth_db, upstream, tmp_path_factory):
    """Two workers; MLflow's permissions NO_PERMISSIONS unless granted; a gateway
    endpoint on the fake provider that alice may use."""
    with start_server(
        tmp_path_factory,
        directory,
        name="cookie",
        workers=2,
        env=GATEWAY_ENV,
        mlflow={"default_permission": "NO_PERMISSIONS", "database_uri": auth_db},
        session_idle_seconds=str(IDLE_SECONDS),
        revalidate_interval_seconds=str(REVALIDATE_SECONDS),
    ) as running:
        for user in (ALICE, BOB, CAROL, LEAVER):  # first logins provision the MLflow users
            login = requests.get(running.url + ME, auth=user, timeout=30)
            assert login.status_code == 200, login.text
        endpoint_id = create_gateway_endpoint(running, upstream)
        granted = requests.post(
            running.url + "/api/3.0/mlflow/users/permissions/grant",
            json={
                "username": "alice",
                "resource_type": "gateway_endpoint",
                "resource_id": endpoint_id,
                "permission": "USE",
            },
            auth=CAROL,
            timeout=30,
        )
        assert granted.status_code == 200, granted.text
        yield running


@pytest.fixture(scope="module")
def second_server(server, tmp_path_factory):
    """Another server on the same auth database, as behind a load balancer."""
    with start_server(tmp_path_factory, config=server.config_path, name="cookie-second") as running:
        yield running


@pytest.fixture(scope="module")
def engine(auth_db):
    engine = tables.create_engine(auth_db)
    yield engine
    engine.dispose()


class Sessions:
    """Makes sessions as the sign-in page does, on the servers' database."""

    def __init__(self, engine) -> None:
        self.store = SessionStore(engine)
        self.checks = UserChecks(engine)
        self.made: list[str] = []

    def sign_in(self, owner: str, *, ago: int = 0, max_seconds: int = 604_800) -> tuple:
        """A session of ``owner`` begun ``ago`` seconds ago: (record, secret)."""
        check = self.checks.get(owner)
        assert check is not None, f"{owner} never logged in"
        record, secret = self.store.create(
            owner,
            source="192.0.2.10",
            password_marker=check.password_marker,
            now=int(time.time()) - ago,
            max_seconds=max_seconds,
        )
        self.made.append(secret)
        return record, secret


@pytest.fixture(scope="module")
def sessions(server, engine):
    return Sessions(engine)


def jar(secret: str) -> dict[str, str]:
    return {"Cookie": f"theme=dark; {COOKIE}={secret}"}


def get(server, path: str, secret: str, **headers) -> requests.Response:
    return requests.get(
        server.url + path, headers={**jar(secret), **headers}, allow_redirects=False, timeout=30
    )


def post(server, path: str, secret: str | None, body=None, **kwargs) -> requests.Response:
    headers = {**(jar(secret) if secret else {}), **kwargs.pop("headers", {})}
    return requests.post(server.url + path, json=body, headers=headers, timeout=30, **kwargs)


def own_origin(server) -> dict[str, str]:
    """What MLflow's UI sends with its fetches."""
    return {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}


def create_experiment(server, secret: str, name: str, **headers) -> requests.Response:
    return post(server, API + "/experiments/create", secret, {"name": name}, headers=headers)


def experiment_named(server, name: str) -> requests.Response:
    return requests.get(
        server.url + API + "/experiments/get-by-name",
        params={"experiment_name": name},
        auth=CAROL,
        timeout=30,
    )


def assert_over(response: requests.Response) -> None:
    """401 without a Basic challenge: no password prompt over MLflow's pages."""
    assert response.status_code == 401, response.text
    assert "WWW-Authenticate" not in response.headers
    assert response.json()["error_code"] == "UNAUTHENTICATED"


@pytest.fixture(scope="module")
def alice(sessions):
    return sessions.sign_in("alice")[1]


@pytest.fixture(scope="module")
def bob(sessions):
    return sessions.sign_in("bob")[1]


@pytest.fixture(scope="module")
def carol(sessions):
    return sessions.sign_in("carol")[1]


@pytest.fixture(scope="module")
def alices_experiment(server, alice):
    created = create_experiment(server, alice, "alice-on-the-cookie", **own_origin(server))
    assert created.status_code == 200, created.text
    return created.json()["experiment_id"]


# -- every route family ----------------------------------------------------------------
def test_mlflows_rest_api_serves_the_sessions_user(server, alice, alices_experiment):
    assert get(server, ME, alice).json()["user"] == "alice"
    found = get(server, SEARCH, alice)
    assert found.status_code == 200, found.text
    assert alices_experiment in {e["experiment_id"] for e in found.json()["experiments"]}
    run = post(server, API + "/runs/create", alice, {"experiment_id": alices_experiment})
    assert run.status_code == 200, run.text
    run_id = run.json()["run"]["info"]["run_id"]
    metric = {"run_id": run_id, "key": "loss", "value": 0.25, "timestamp": 1, "step": 0}
    assert post(server, API + "/runs/log-metric", alice, metric).status_code == 200
    history = get(server, API + f"/metrics/get-history?run_id={run_id}&metric_key=loss", alice)
    assert [m["value"] for m in history.json()["metrics"]] == [0.25]


def test_mlflows_ui_and_its_fetches(server, alice, alices_experiment):
    page = get(server, "/", alice, Accept="text/html")
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    fetched = get(server, "/ajax-api/2.0/mlflow/experiments/search?max_results=10", alice)
    assert fetched.status_code == 200, fetched.text
    tagged = post(
        server,
        "/ajax-api/2.0/mlflow/experiments/set-experiment-tag",
        alice,
        {"experiment_id": alices_experiment, "key": "from", "value": "ui"},
        headers=own_origin(server),
    )
    assert tagged.status_code == 200, tagged.text


def test_permissions_come_from_mlflows_engine(server, alice, bob, carol, alices_experiment):
    path = API + f"/experiments/get?experiment_id={alices_experiment}"
    # MLflow's engine made alice the owner of what she created on the cookie.
    assert get(server, path, alice).status_code == 200
    assert get(server, path, bob).status_code == 403  # NO_PERMISSIONS, no grant
    assert get(server, path, carol).status_code == 200  # an admin (admin_groups)


def test_native_fastapi_routes_otlp_traces(server, alice, bob, alices_experiment):
    headers = {
        "Content-Type": "application/x-protobuf",
        "X-Mlflow-Experiment-Id": alices_experiment,
    }
    owner = requests.post(
        server.url + "/v1/traces", data=b"", headers={**headers, **jar(alice)}, timeout=30
    )
    # Authorized: the request reached the OTel handler, which rejects the empty body.
    assert owner.status_code == 400, owner.text
    assert "no spans" in owner.text
    intruder = requests.post(
        server.url + "/v1/traces", data=b"", headers={**headers, **jar(bob)}, timeout=30
    )
    assert intruder.status_code == 403
    over = requests.post(
        server.url + "/v1/traces", data=b"", headers={**headers, **jar(new_secret())}, timeout=30
    )
    assert_over(over)


def test_artifacts_upload_and_download(server, alice, bob, alices_experiment):
    path = f"/api/2.0/mlflow-artifacts/artifacts/{alices_experiment}/cookie/notes.txt"
    uploaded = requests.put(
        server.url + path, data=b"on the cookie", headers=jar(alice), timeout=30
    )
    assert uploaded.status_code == 200, uploaded.text
    downloaded = get(server, path, alice)
    assert (downloaded.status_code, downloaded.content) == (200, b"on the cookie")
    assert get(server, path, bob).status_code == 403


def test_ldap_admin_for_an_admin_and_self_service_for_everyone(server, alice, carol):
    assert get(server, "/ldap-admin/", carol, Accept="text/html").status_code == 200
    assert get(server, "/ldap-admin/", alice, Accept="text/html").status_code == 403
    tokens = get(server, "/ldap-admin/tokens/", alice, Accept="text/html")
    assert tokens.status_code == 200
    assert get(server, ME, carol).json()["is_admin"] is True


def test_a_signed_in_user_creates_a_token_that_acts_as_them(server, bob):
    """Signed in on the page, *Access tokens* creates tokens as for a password login."""
    created = post(
        server,
        "/api/2.0/mlflow/ldap-auth/tokens",
        bob,
        {"name": "from-the-browser", "expires_in_days": 1},
        headers=own_origin(server),
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    me = requests.get(server.url + ME, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert me.json()["user"] == "bob"
    page = get(server, "/ldap-admin/tokens/", bob, Accept="text/html")
    assert 'id="expires_in_days"' in page.text  # the page offers the creation form


def test_the_gateway_takes_the_cookie_and_never_passes_it_on(server, upstream, alice, bob):
    response, nonce = call_gateway(
        server,
        {**jar(alice), "Authorization": f"Bearer {PROVIDER_KEY}", "User-Agent": CLAUDE_CLI},
    )
    assert response.status_code == 200, response.text
    [forwarded] = upstream.received(nonce)
    assert forwarded.header("Authorization") == [f"Bearer {PROVIDER_KEY}"]
    assert forwarded.header("Cookie") == []
    assert leaks(forwarded, alice) == []
    # X-MLflow-Authorization comes first: bob (no USE grant) is refused, not alice served.
    response, nonce = call_gateway(
        server,
        {**jar(alice), "X-MLflow-Authorization": "Basic " + _basic(BOB), "User-Agent": CLAUDE_CLI},
    )
    assert response.status_code == 403, response.text
    assert upstream.received(nonce) == []
    # The cookie of a user without the grant: refused as that user.
    response, nonce = call_gateway(server, {**jar(bob), "User-Agent": CLAUDE_CLI})
    assert response.status_code == 403, response.text


def _basic(credentials: tuple[str, str]) -> str:
    return base64.b64encode(":".join(credentials).encode()).decode()


# -- cross-site writes ------------------------------------------------------------------
def test_a_cross_site_write_on_the_cookie_is_refused_and_changes_nothing(server, alice):
    host, port = server.url.removeprefix("http://").split(":")
    before = len(audit_lines(server, event="session_refused", reason="cross_site"))
    foreign = [
        # Origins MLflow's own CORS guard lets through (any http://localhost:*).
        {"Origin": f"http://localhost:{port}"},
        {"Origin": f"http://{host}:{int(port) + 1}"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for number, headers in enumerate(foreign):
        name = f"cross-site-{number}-{uuid.uuid4().hex[:6]}"
        refused = create_experiment(server, alice, name, **headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        assert experiment_named(server, name).status_code == 404
    lines = wait_for_audit(server, before, event="session_refused", reason="cross_site")
    assert lines[0]["user"] == "alice"
    # The same write from the server's own page, and a cross-site read, are served.
    name = f"same-origin-{uuid.uuid4().hex[:6]}"
    assert create_experiment(server, alice, name, **own_origin(server)).status_code == 200
    assert experiment_named(server, name).status_code == 200
    assert get(server, SEARCH, alice, Origin=f"http://localhost:{port}").status_code == 200
    # A native route too: MLflow's CORS guard is not in front of it.
    refused = requests.post(
        server.url + "/v1/traces",
        data=b"",
        headers={**jar(alice), "Origin": f"http://localhost:{port}"},
        timeout=30,
    )
    assert refused.status_code == 403, refused.text


def test_passwords_and_tokens_are_not_concerned_by_the_cross_site_rule(server, bob):
    port = server.url.rsplit(":", 1)[1]
    name = f"basic-{uuid.uuid4().hex[:6]}"
    created = requests.post(
        server.url + API + "/experiments/create",
        json={"name": name},
        auth=ALICE,
        headers={**jar(bob), "Origin": f"http://localhost:{port}"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    assert experiment_named(server, name).status_code == 200


# -- credentials side by side -------------------------------------------------------------
def test_a_credential_header_wins_over_the_cookie(server, bob):
    as_alice = requests.get(server.url + ME, auth=ALICE, headers=jar(bob), timeout=30)
    assert as_alice.json()["user"] == "alice"
    wrong = requests.get(server.url + ME, auth=("alice", "wrong"), headers=jar(bob), timeout=30)
    assert wrong.status_code == 401  # refused, not rescued by the cookie
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    created = requests.post(
        server.url + "/api/2.0/mlflow/ldap-auth/tokens",
        json={"name": f"cookie-{uuid.uuid4().hex[:6]}", "expires_in_days": 1},
        auth=ALICE,
        timeout=30,
    )
    assert created.status_code in (200, 201), created.text
    token = created.json()["secret"]
    by_token = requests.get(
        server.url + ME, headers={**jar(bob), "Authorization": f"Bearer {token}"}, timeout=30
    )
    assert by_token.json()["user"] == "alice"


def test_no_credentials_keep_the_basic_challenge(server):
    anonymous = requests.get(server.url + SEARCH, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'


# -- sessions that are over -------------------------------------------------------------
def test_a_session_that_is_over_is_401_without_a_challenge(server, sessions):
    _, idle = sessions.sign_in("alice", ago=IDLE_SECONDS + 120, max_seconds=86_400)
    _, expired = sessions.sign_in("alice", ago=120, max_seconds=60)
    record, ended = sessions.sign_in("alice")
    assert get(server, ME, ended).status_code == 200
    assert sessions.store.end(record.id, reasons.LOGOUT, "alice", int(time.time()))
    over = {
        "idle": idle,
        "expired": expired,
        "ended": ended,
        "unknown": new_secret(),
        "forged": "forged-cookie",
        "oversized": "x" * 5000,
    }
    for what, secret in over.items():
        for path in (SEARCH, "/ajax-api/2.0/mlflow/experiments/search?max_results=1"):
            response = get(server, path, secret)
            assert_over(response)
            assert secret not in response.text, what
    for reason in ("idle", "expired"):
        wait_for_audit(server, event="session_ended", reason=reason, user="alice")


def test_two_cookies_of_that_name_are_no_session(server, alice, bob):
    response = requests.get(
        server.url + SEARCH,
        headers={"Cookie": f"{COOKIE}={alice}; {COOKIE}={bob}"},
        timeout=30,
    )
    assert_over(response)


def test_a_sign_out_holds_at_once_on_every_worker_and_server(server, second_server, sessions):
    record, secret = sessions.sign_in("alice")
    # New connections each time: the two workers share them out.
    for target in (server, server, server, second_server):
        assert get(target, ME, secret).status_code == 200
    assert sessions.store.end(record.id, reasons.LOGOUT, "alice", int(time.time()))
    for _ in range(8):
        assert_over(get(server, SEARCH, secret))
    assert_over(get(second_server, SEARCH, secret))


def test_a_user_removed_from_the_directory_loses_their_sessions(server, directory, sessions):
    _, leavers = sessions.sign_in("leaver")
    _, alices = sessions.sign_in("alice")
    assert get(server, ME, leavers).json()["user"] == "leaver"
    directory.ldif("ldapdelete", f"uid=leaver,{PEOPLE_DN}\n")
    started = time.monotonic()
    wait_until(
        lambda: all(get(server, SEARCH, leavers).status_code == 401 for _ in range(6)),
        "a removed user's session still works",
        timeout=TAKES_EFFECT,
    )
    assert time.monotonic() - started <= TAKES_EFFECT
    assert_over(get(server, SEARCH, leavers))
    assert all(get(server, ME, alices).status_code == 200 for _ in range(6))
    wait_for_audit(server, event="session_ended", user="leaver", reason="owner_gone")


# -- secrets ---------------------------------------------------------------------------
def test_no_session_secret_in_logs_pages_or_the_database(server, second_server, engine, sessions):
    secrets = [secret for secret in sessions.made if secret]
    assert secrets
    logs = server.log() + second_server.log()
    assert not [secret for secret in secrets if secret in logs]
    with engine.connect() as connection:
        dumped = "\n".join(
            repr(tuple(row))
            for table in tables.metadata.sorted_tables
            for row in connection.execute(sa.select(table))
        )
    assert not [secret for secret in secrets if secret in dumped]
    assert secret_hash(secrets[0]) in dumped  # only the hash is kept
