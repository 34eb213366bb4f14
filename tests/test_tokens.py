"""Access tokens (docs/tokens.md) on two real ``mlflow server --workers 2`` sharing one database.

Create with the directory password, use as Bearer and as Basic owner:secret, with
MLflow's own client (``MLFLOW_TRACKING_TOKEN``); list, revoke, expire; revocation seen by
every worker of both servers within 10 s; only hashes in the database; audit lines.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import requests

from servers import (
    CAROL,
    audit_lines,
    basic_header,
    run_cli,
    start_server,
    wait_for_audit,
    wait_until,
)

TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
ALICE = ("alice", "alice-password")
BOB = ("bob", "bob-password")


@pytest.fixture(scope="module")
def fleet(slapd, tmp_path_factory):
    """Two servers (two workers each) on one auth database."""
    first = start_server(tmp_path_factory, slapd, workers=2, name="tokens-a")
    second = start_server(tmp_path_factory, config=first.config_path, workers=2, name="tokens-b")
    with first, second:
        yield first, second


def auth_db(server) -> str:
    return str(server.config_path.parent / "auth.db")


def create(server, auth=ALICE, name="ci", days=30, **extra) -> dict:
    response = requests.post(
        server.url + TOKENS, json={"name": name, "expires_in_days": days, **extra}, auth=auth
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(secret: str) -> dict:
    # Fresh connections: each request may land on either worker.
    return {"Authorization": f"Bearer {secret}", "Connection": "close"}


def status_with(server, headers) -> int:
    return requests.get(server.url + SEARCH, headers=headers, timeout=30).status_code


def test_a_token_acts_as_its_owner_as_bearer_and_as_basic(fleet):
    first, second = fleet
    answer = create(first)
    secret, token = answer["secret"], answer["token"]
    assert set(token) >= {"id", "name", "user", "created", "expires", "last_used"}
    assert token["user"] == "alice" and token["name"] == "ci"
    for server in fleet:
        assert status_with(server, bearer(secret)) == 200
        assert requests.get(server.url + SEARCH, auth=("alice", secret)).status_code == 200
        # The owner's name in another spelling is the owner.
        for login in ("ALICE", " alice", "Alice "):
            assert requests.get(server.url + SEARCH, auth=(login, secret)).status_code == 200
        # A domain this directory does not have names nobody.
        assert requests.get(server.url + SEARCH, auth=("CORP\\alice", secret)).status_code == 401
    # Someone else's username with a valid secret is refused.
    before = len(audit_lines(first, event="token_refused", reason="wrong_owner"))
    assert requests.get(first.url + SEARCH, auth=("bob", secret)).status_code == 401
    wait_for_audit(first, before, event="token_refused", reason="wrong_owner")
    # A token creates no tokens.
    refused = requests.post(
        first.url + TOKENS, json={"name": "x", "expires_in_days": 1}, headers=bearer(secret)
    )
    assert refused.status_code == 403
    assert "directory password" in refused.json()["message"]
    assert second.url  # both servers took part above


def test_the_token_has_the_owners_permissions_not_more(fleet):
    first, _ = fleet
    secret = create(first, auth=BOB, name="bob-ci")["secret"]
    # bob is no admin: the admin API stays closed to his token, as to his password.
    mappings = "/api/2.0/mlflow/ldap-auth/group-mappings"
    assert requests.get(first.url + mappings, headers=bearer(secret)).status_code == 403
    carol = create(first, auth=CAROL, name="carol-ci")["secret"]
    assert requests.get(first.url + mappings, headers=bearer(carol)).status_code == 200


def test_mlflow_client_logs_a_run_with_MLFLOW_TRACKING_TOKEN(fleet, monkeypatch):
    from mlflow import MlflowClient

    first, _ = fleet
    secret = create(first, name="mlflow-client")["secret"]
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    client = MlflowClient(tracking_uri=first.url)
    experiment_id = client.create_experiment(f"token-run-{time.time_ns()}")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "loss", 0.25)
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.25}
    # MLflow made alice the experiment's manager: the token is alice.
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    check = requests.get(
        f"{first.url}/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}", auth=BOB
    )
    assert check.status_code == 200  # default_permission READ


def test_bad_token_input_gets_401_never_5xx(fleet):
    first, _ = fleet
    secret = create(first, name="typo")["secret"]
    typo = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    cases = [
        bearer(typo),  # checksum fails: no database look-up
        bearer(secret[:-3]),
        bearer("mldap_" + "0" * 49),
        bearer("something-else"),
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + "mldap_" + "x" * 9000},
        basic_header(b"alice:" + typo.encode()),
        basic_header(b"alice:mldap_\x00\xff"),
    ]
    for headers in cases:
        response = requests.get(first.url + SEARCH, headers=headers)
        assert response.status_code == 401, (headers, response.status_code, response.text)
    reasons = {r["reason"] for r in audit_lines(first, event="token_refused")}
    assert "malformed_token" in reasons


def test_list_own_and_admin_views(fleet):
    first, _ = fleet
    mine = create(first, name="listing")["token"]
    own = requests.get(first.url + TOKENS, auth=ALICE).json()["tokens"]
    assert mine["id"] in {t["id"] for t in own}
    assert {t["user"] for t in own} == {"alice"}
    assert all("secret" not in t for t in own)
    assert requests.get(first.url + TOKENS + "?user=alice", auth=BOB).status_code == 403
    assert requests.get(first.url + TOKENS + "?all=true", auth=BOB).status_code == 403
    by_admin = requests.get(first.url + TOKENS + "?user=alice", auth=CAROL).json()["tokens"]
    assert mine["id"] in {t["id"] for t in by_admin}
    # As operators type it: other case, spaces.
    for spelled in ("ALICE", "%20Alice"):
        typed = requests.get(f"{first.url}{TOKENS}?user={spelled}", auth=CAROL).json()["tokens"]
        assert {t["id"] for t in typed} == {t["id"] for t in by_admin}
    # Naming oneself in another case is one's own list, not someone else's.
    assert requests.get(first.url + TOKENS + "?user=ALICE", auth=ALICE).status_code == 200
    everyone = requests.get(first.url + TOKENS + "?all=true", auth=CAROL).json()["tokens"]
    assert {"alice"} <= {t["user"] for t in everyone}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "expires_in_days": 366},
        {"name": "x", "expires_in_days": "ten"},
        {"name": "x", "expires_in_days": True},
        {"name": "", "expires_in_days": 1},
        {"name": "x" * 101, "expires_in_days": 1},
        {"name": "a\nb", "expires_in_days": 1},
        {"name": "x", "expires_in_days": 1, "owner": "bob"},
        ["not", "an", "object"],
    ],
)
def test_a_bad_create_request_is_400_and_creates_nothing(fleet, body):
    first, _ = fleet
    before = len(requests.get(first.url + TOKENS, auth=ALICE).json()["tokens"])
    response = requests.post(first.url + TOKENS, json=body, auth=ALICE)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert len(requests.get(first.url + TOKENS, auth=ALICE).json()["tokens"]) == before


def test_the_break_glass_admin_has_no_tokens(fleet):
    from servers import ADMIN_PASSWORD

    first, _ = fleet
    response = requests.post(
        first.url + TOKENS, json={"name": "x", "expires_in_days": 1}, auth=("admin", ADMIN_PASSWORD)
    )
    assert response.status_code == 400


def test_revocation_reaches_every_worker_of_every_server_within_10_s(fleet):
    first, second = fleet
    answer = create(first, name="to-revoke")
    secret, token_id = answer["secret"], answer["token"]["id"]
    # Warm every worker's memory of the token.
    for _ in range(8):
        for server in fleet:
            assert status_with(server, bearer(secret)) == 200
    # Someone else cannot revoke it (and learns nothing: 404 as for no such id).
    assert requests.delete(f"{first.url}{TOKENS}/{token_id}", auth=BOB).status_code == 404
    assert requests.delete(f"{first.url}{TOKENS}/no-such-id", auth=ALICE).status_code == 404
    revoked_at = time.monotonic()
    response = requests.delete(f"{second.url}{TOKENS}/{token_id}", auth=ALICE)
    assert response.status_code == 200 and response.json()["token"]["revoked"]

    def all_refuse() -> bool:
        answers = [status_with(server, bearer(secret)) for server in fleet for _ in range(4)]
        return set(answers) == {401}

    wait_until(all_refuse, "a revoked token still works somewhere", timeout=10)
    assert time.monotonic() - revoked_at < 10
    # Stays refused, with the reason in the audit trail of both servers.
    assert status_with(first, bearer(secret)) == 401
    for server in fleet:
        wait_for_audit(server, 0, event="token_refused", reason="revoked", token_id=token_id)
    wait_for_audit(second, 0, event="token_revoked", token_id=token_id, actor="alice")


def test_an_expired_token_is_refused_within_10_s(fleet):
    first, second = fleet
    answer = create(first, name="short-lived", days=1)
    secret, token_id = answer["secret"], answer["token"]["id"]
    assert status_with(first, bearer(secret)) == 200
    # A day is long for a test: move the expiry into the past in the shared database.
    with sqlite3.connect(auth_db(first)) as db:
        db.execute(
            "UPDATE ldap_auth_tokens SET expires_at = ? WHERE id = ?", (int(time.time()), token_id)
        )
    wait_until(
        lambda: {status_with(s, bearer(secret)) for s in fleet for _ in range(3)} == {401},
        "an expired token still works",
        timeout=10,
    )
    wait_for_audit(second, 0, event="token_refused", reason="expired", token_id=token_id)


def test_the_database_holds_no_usable_secret_and_last_used_is_kept(fleet):
    first, _ = fleet
    answer = create(first, name="dump")
    secret, token_id = answer["secret"], answer["token"]["id"]
    assert status_with(first, bearer(secret)) == 200
    dump = "\n".join(sqlite3.connect(auth_db(first)).iterdump())
    assert secret not in dump and secret[6:] not in dump and secret[6:30] not in dump
    listed = {t["id"]: t for t in requests.get(first.url + TOKENS, auth=ALICE).json()["tokens"]}
    assert listed[token_id]["last_used"] is not None
    # Secrets never reach the server's log either.
    assert secret[6:] not in first.log()


def test_the_cli_lists_and_revokes(fleet):
    first, _ = fleet
    answer = create(first, name="cli-made")
    secret, token_id = answer["secret"], answer["token"]["id"]
    listed = run_cli(first.config_path, "tokens", "list", "--user", "Alice")
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "cli-made" in listed.stdout
    assert secret[6:] not in listed.stdout
    revoked = run_cli(first.config_path, "tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    wait_until(
        lambda: {status_with(s, bearer(secret)) for s in fleet for _ in range(3)} == {401},
        "a token revoked by the CLI still works",
        timeout=10,
    )
    missing = run_cli(first.config_path, "tokens", "revoke", "no-such-token")
    assert missing.returncode == 1 and "no token" in missing.stderr


def test_the_python_client_manages_tokens(fleet, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    first, _ = fleet
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "alice-password")
    client = get_app_client("ldap-auth", tracking_uri=first.url)
    made = client.create_token("from-client", 7)
    assert made["secret"].startswith("mldap_")
    assert made["token"]["id"] in {t["id"] for t in client.list_tokens()}
    assert client.revoke_token(made["token"]["id"])["revoked"] is not None
    with pytest.raises(MlflowException):
        client.list_tokens(all=True)  # alice is no admin
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", CAROL[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", CAROL[1])
    assert "alice" in {t["user"] for t in client.list_tokens(all=True)}


# -- limits that hold under attack: active tokens, creation rates ---------------------

DAY = 86_400


def seed_tokens(database_uri: str, owner: str, count: int, **times) -> list[str]:
    """``count`` token rows of ``owner`` written straight into the auth database (as
    older creations would have left them); ``times`` override the epoch columns."""
    import secrets

    import sqlalchemy as sa

    from mlflow_ldap_auth.db import tables

    now = int(time.time())
    rows = [
        {
            "id": secrets.token_hex(8),
            "owner": owner,
            "name": f"seeded-{i}",
            "secret_hash": secrets.token_hex(32),
            "created_at": now - 2 * DAY - i,
            "expires_at": now + 30 * DAY,
            **times,
        }
        for i in range(count)
    ]
    engine = sa.create_engine(database_uri)
    try:
        with engine.begin() as connection:
            connection.execute(tables.tokens.insert(), rows)
    finally:
        engine.dispose()
    return [row["id"] for row in rows]


def active_tokens(database_uri: str, owner: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_uri)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT count(*) FROM ldap_auth_tokens WHERE owner = :owner"
                    " AND revoked_at IS NULL AND expires_at > :now"
                ),
                {"owner": owner, "now": int(time.time())},
            ).scalar_one()
    finally:
        engine.dispose()


def concurrent_creates(servers, auth, count: int) -> list[requests.Response]:
    """``count`` creations at once, on fresh connections spread over ``servers``."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(count)

    def one(i: int) -> requests.Response:
        server = servers[i % len(servers)]
        barrier.wait()
        return requests.post(
            server.url + TOKENS,
            json={"name": f"race-{i}", "expires_in_days": 1},
            auth=auth,
            headers={"Connection": "close"},
            timeout=120,
        )

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def assert_limit_held(answers, database_uri: str, owner: str, before: int) -> None:
    made = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    assert len(made) == MAX_ACTIVE - before, [a.status_code for a in answers]
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"already has {MAX_ACTIVE} active tokens" in answer.json()["message"]
    assert active_tokens(database_uri, owner) == MAX_ACTIVE


MAX_ACTIVE = 100


def test_concurrent_creates_on_every_worker_never_pass_the_active_limit(fleet):
    first, _ = fleet
    database_uri = f"sqlite:///{auth_db(first)}"
    requests.get(first.url + SEARCH, auth=BOB, timeout=30)  # bob is provisioned
    seed_tokens(database_uri, "bob", 95 - active_tokens(database_uri, "bob"))
    answers = concurrent_creates(fleet, BOB, 40)
    assert_limit_held(answers, database_uri, "bob", 95)


@pytest.fixture(scope="module")
def on_postgresql(postgres, slapd, tmp_path_factory):
    database_uri = postgres.create_database("tokens_auth")
    with start_server(
        tmp_path_factory, slapd, name="tokens-pg", workers=2, mlflow={"database_uri": database_uri}
    ) as server:
        yield server, database_uri


def test_concurrent_creates_on_postgresql_never_pass_the_active_limit(on_postgresql):
    server, database_uri = on_postgresql
    jsmith = ("jsmith", "jsmith-password")
    assert requests.get(server.url + SEARCH, auth=jsmith, timeout=30).status_code == 200
    seed_tokens(database_uri, "jsmith", 90)
    answers = concurrent_creates([server], jsmith, 60)
    assert_limit_held(answers, database_uri, "jsmith", 90)


def test_creation_rate_per_minute_is_429_with_retry_after_on_every_server(fleet):
    first, second = fleet
    dave = ("dave", "dave-password")
    made = 0
    for i in range(40):  # both servers, fresh connections: every worker counts alike
        server = fleet[i % 2]
        answer = requests.post(
            server.url + TOKENS,
            json={"name": f"burst-{i}", "expires_in_days": 1},
            auth=dave,
            headers={"Connection": "close"},
            timeout=30,
        )
        if answer.status_code != 200:
            break
        made += 1
    assert made == 20, made
    assert answer.status_code == 429, answer.text
    assert answer.json()["error_code"] == "RESOURCE_EXHAUSTED"
    assert "try again in" in answer.json()["message"]
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    refused = [
        r
        for server in fleet
        for r in audit_lines(server, event="token_created", result="refused", user="dave")
    ]
    assert refused and refused[-1]["reason"] == "rate_limited"
    # Another user is not held up by dave's burst.
    create(second, auth=ALICE, name="not-held-up")
    # Revoking does not give creations back: the rate counts what was created.
    for token in requests.get(first.url + TOKENS, auth=dave).json()["tokens"][:5]:
        requests.delete(f"{first.url}{TOKENS}/{token['id']}", auth=dave)
    again = requests.post(
        first.url + TOKENS, json={"name": "again", "expires_in_days": 1}, auth=dave
    )
    assert again.status_code == 429, again.text


def test_creation_rate_per_day_is_429_with_a_long_retry_after(on_postgresql):
    server, database_uri = on_postgresql
    bob = BOB
    assert requests.get(server.url + SEARCH, auth=bob, timeout=30).status_code == 200
    # 199 creations earlier today (revoked since): one more is allowed, then none.
    now = int(time.time())
    seed_tokens(database_uri, "bob", 199, created_at=now - 3600, revoked_at=now - 3500)
    made = requests.post(
        server.url + TOKENS, json={"name": "200th", "expires_in_days": 1}, auth=bob
    )
    assert made.status_code == 200, made.text
    refused = requests.post(
        server.url + TOKENS, json={"name": "201st", "expires_in_days": 1}, auth=bob
    )
    assert refused.status_code == 429, refused.text
    assert DAY - 3700 <= int(refused.headers["Retry-After"]) <= DAY - 3500


def test_token_lists_come_in_pages_without_repeats_or_gaps(fleet):
    first, _ = fleet
    database_uri = f"sqlite:///{auth_db(first)}"
    seeded = set(seed_tokens(database_uri, "pager", 230, created_at=int(time.time()) - 60))
    # Same created_at for all of them: the pages are cut by (created_at, id).
    pages, page_token = [], None
    while True:
        params = {"user": "pager", "max_results": 100}
        if page_token:
            params["page_token"] = page_token
        answer = requests.get(first.url + TOKENS, params=params, auth=CAROL, timeout=30)
        assert answer.status_code == 200, answer.text
        pages.append([t["id"] for t in answer.json()["tokens"]])
        page_token = answer.json()["next_page_token"]
        if page_token is None:
            break
    assert [len(page) for page in pages] == [100, 100, 30]
    listed = [token_id for page in pages for token_id in page]
    assert len(listed) == len(set(listed)) and set(listed) == seeded
    # Everyone's list (the admin's ?all=true) is paged by default.
    everyone = requests.get(first.url + TOKENS + "?all=true", auth=CAROL, timeout=30).json()
    assert len(everyone["tokens"]) == 100 and everyone["next_page_token"]
    # The client follows the pages.
    from mlflow.server import get_app_client

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", CAROL[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", CAROL[1])
        client = get_app_client("ldap-auth", tracking_uri=first.url)
        assert {t["id"] for t in client.list_tokens(user="pager")} == seeded
    for bad in ({"max_results": 0}, {"max_results": 1001}, {"page_token": "bm9wZQ"}):
        answer = requests.get(first.url + TOKENS, params=bad, auth=ALICE, timeout=30)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_tokens_that_ended_over_30_days_ago_are_deleted(fleet):
    first, _ = fleet
    database_uri = f"sqlite:///{auth_db(first)}"
    now = int(time.time())
    old = now - 40 * DAY
    gone = seed_tokens(database_uri, "retired", 3, created_at=old, revoked_at=now - 31 * DAY)
    gone += seed_tokens(database_uri, "retired", 2, created_at=old, expires_at=now - 31 * DAY)
    kept = seed_tokens(database_uri, "retired", 2, created_at=old, revoked_at=now - 29 * DAY)
    kept += seed_tokens(database_uri, "retired", 2, created_at=old, expires_at=now - 29 * DAY)
    kept += seed_tokens(database_uri, "retired", 1, created_at=old)
    create(first, auth=ALICE, name="sweeps")  # a creation deletes what ended long ago
    with sqlite3.connect(auth_db(first)) as db:
        left = {row[0] for row in db.execute("SELECT id FROM ldap_auth_tokens")}
    assert not set(gone) & left
    assert set(kept) <= left
