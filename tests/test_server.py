"""A real ``mlflow server --app-name ldap-auth`` against the real slapd: §3 on the wire."""

import re
import threading
import time

import pytest
import requests
from mlflow.exceptions import MlflowException

from servers import (
    ADMIN_PASSWORD,
    USERS_DN,
    add_person,
    audit_lines,
    basic_header,
    blackhole_server,
    client_as,
    free_port,
    slapd_barrier,
    slapd_count,
    start_server,
    wait_for_audit,
)

EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"
PASSWORDS = [
    "alice-password",
    "bob-password",
    "carol-password",
    "dave-password",
    "jsmith-password",
    "admin-directory-password",
    ADMIN_PASSWORD,
    "wrong-password-17",
]


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(tmp_path_factory, slapd, workers=2, allowed_groups=USERS_DN) as running:
        yield running


def get(server, path=EXPERIMENT_0, auth=None, headers=None):
    return requests.get(server.url + path, auth=auth, headers=headers, timeout=30)


def assert_challenge(response):
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'


def test_directory_user_logs_in(server):
    response = get(server, auth=("alice", "alice-password"))
    assert response.status_code == 200
    assert response.json()["experiment"]["experiment_id"] == "0"


def test_no_credentials_is_challenged(server):
    assert_challenge(get(server))


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic " + "QUFB" * 3000},  # over 8 KiB
        basic_header(b"no-colon-here"),
        basic_header(b"\xff\xfe:alice-password"),
        basic_header(b"alice\x00:alice-password"),
    ],
)
def test_malformed_header_is_401_never_500(server, headers):
    assert_challenge(get(server, headers=headers))


def test_wrong_password_and_unknown_user_answer_the_same(server):
    wrong = get(server, auth=("alice", "wrong-password-17"))
    unknown = get(server, auth=("nobody-at-all", "wrong-password-17"))
    assert_challenge(wrong)
    assert_challenge(unknown)
    assert wrong.text == unknown.text


def test_empty_password_never_reaches_the_directory(server, slapd):
    searches = slapd_count(slapd, "(uid=jsmith)")
    binds = slapd_count(slapd, 'BIND dn="uid=jsmith')
    refusals = len(audit_lines(server, user="jsmith", reason="empty_password"))
    assert_challenge(get(server, auth=("jsmith", "")))
    # The server refused it as an empty password, and slapd has logged all it was sent.
    wait_for_audit(server, after=refusals, user="jsmith", reason="empty_password")
    slapd_barrier(slapd)
    assert slapd_count(slapd, "(uid=jsmith)") == searches
    assert slapd_count(slapd, 'BIND dn="uid=jsmith') == binds


@pytest.mark.parametrize("login", ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "a*e"])
def test_injection_characters_never_match_another_entry(server, login):
    assert_challenge(get(server, auth=(login, "alice-password")))


def test_case_variants_are_one_mlflow_user(server):
    for login in ("ALICE", "Alice", "alice"):
        assert get(server, auth=(login, "alice-password")).status_code == 200
    users = requests.get(
        server.url + "/api/2.0/mlflow/users/list", auth=("admin", ADMIN_PASSWORD), timeout=30
    ).json()["users"]
    names = [user["username"] for user in users]
    assert names.count("alice") == 1
    assert not [name for name in names if name.lower() == "alice" and name != "alice"]


def test_not_in_allowed_groups_is_403(server):
    response = get(server, auth=("dave", "dave-password"))
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"


def test_mlflow_client_logs_a_run_with_directory_credentials(server):
    with client_as(server, "bob", "bob-password") as client:
        experiment_id = client.create_experiment("bob-experiment")
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "accuracy", 0.93)
        client.set_terminated(run.info.run_id)
        fetched = client.get_run(run.info.run_id)
    assert fetched.data.metrics["accuracy"] == 0.93

    with (
        client_as(server, "bob", "not-bobs-password") as client,
        pytest.raises(MlflowException, match=r"401|not authenticated|UNAUTHENTICATED"),
    ):
        client.get_experiment(experiment_id)


def test_admin_group_member_is_mlflow_admin_and_normal_user_is_not(server):
    with client_as(server, "carol", "carol-password", app=True) as admin_client:
        get(server, auth=("jsmith", "jsmith-password"))  # provisions jsmith
        assert admin_client.get_user("jsmith").username == "jsmith"
        assert admin_client.get_user("carol").is_admin is True

    with (
        client_as(server, "alice", "alice-password", app=True) as user_client,
        pytest.raises(MlflowException, match=r"403|Permission denied|PERMISSION_DENIED"),
    ):
        user_client.get_user("jsmith")


def test_experiment_permissions_enforced_by_mlflow(server):
    created = requests.post(
        server.url + "/api/2.0/mlflow/experiments/create",
        json={"name": "alice-private"},
        auth=("alice", "alice-password"),
        timeout=30,
    )
    experiment_id = created.json()["experiment_id"]
    # default_permission READ: bob may read alice's experiment but not change it.
    read = get(
        server,
        f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}",
        auth=("bob", "bob-password"),
    )
    assert read.status_code == 200
    rename = requests.post(
        server.url + "/api/2.0/mlflow/experiments/update",
        json={"experiment_id": experiment_id, "new_name": "bobs-now"},
        auth=("bob", "bob-password"),
        timeout=30,
    )
    assert rename.status_code == 403


def test_native_fastapi_route_is_protected_like_flask(server):
    created = requests.post(
        server.url + "/api/2.0/mlflow/experiments/create",
        json={"name": "alice-traces"},
        auth=("alice", "alice-password"),
        timeout=30,
    )
    experiment_id = created.json()["experiment_id"]
    url = server.url + "/v1/traces"
    headers = {"Content-Type": "application/x-protobuf", "X-Mlflow-Experiment-Id": experiment_id}
    anonymous = requests.post(url, data=b"", headers=headers, timeout=30)
    assert_challenge(anonymous)
    wrong = requests.post(url, data=b"", headers=headers, auth=("alice", "bad-pw"), timeout=30)
    assert_challenge(wrong)
    intruder = requests.post(
        url, data=b"", headers=headers, auth=("bob", "bob-password"), timeout=30
    )
    assert intruder.status_code == 403
    owner = requests.post(
        url, data=b"", headers=headers, auth=("alice", "alice-password"), timeout=30
    )
    # Authorized: the request reached the OTel handler, which rejects the empty body.
    assert owner.status_code == 400, owner.text
    assert "no spans" in owner.text


def test_local_sign_up_user_creation_and_password_change_refused(server):
    admin = ("admin", ADMIN_PASSWORD)
    create = requests.post(
        server.url + "/api/2.0/mlflow/users/create",
        json={"username": "eve", "password": "eve-password-123"},
        auth=admin,
        timeout=30,
    )
    assert create.status_code == 400
    assert "directory" in create.json()["message"]
    signup = requests.get(server.url + "/signup", auth=admin, timeout=30)
    assert signup.status_code == 400
    password = requests.patch(
        server.url + "/api/2.0/mlflow/users/update-password",
        json={"username": "alice", "password": "new-password-123"},
        auth=("alice", "alice-password"),
        timeout=30,
    )
    assert password.status_code == 400
    assert "directory" in password.json()["message"]
    assert get(server, auth=("alice", "alice-password")).status_code == 200


def test_directory_user_cannot_claim_the_break_glass_admin(server):
    # uid=admin exists in the directory, but "admin" is the local break-glass account.
    assert_challenge(get(server, auth=("admin", "admin-directory-password")))
    assert get(server, auth=("admin", ADMIN_PASSWORD)).status_code == 200


def test_concurrent_first_requests_bind_once_per_worker(server, slapd):
    add_person(slapd, "rush", "rush-password", [USERS_DN])  # nobody has logged in as rush yet
    needle = 'BIND dn="uid=rush,ou=people,dc=example,dc=org" method=128'
    audits_before = len(audit_lines(server))
    barrier = threading.Barrier(64)
    statuses = []

    def hit():
        barrier.wait()
        statuses.append(get(server, auth=("rush", "rush-password")).status_code)

    threads = [threading.Thread(target=hit) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 64
    slapd_barrier(slapd)  # every bind slapd was sent is in its log now
    binds = slapd_count(slapd, needle)
    fresh_workers = {
        line["worker"]
        for line in audit_lines(server)[audits_before:]
        if line["user"] == "rush" and line["result"] == "success"
    }
    # One bind per worker process that served rush, however many requests it got.
    assert 1 <= binds == len(fresh_workers) <= server.workers


def test_audit_lines_are_structured_and_passwords_never_logged(server):
    # Every password the check below looks for is sent here, whatever ran before: a
    # success is logged at a fresh bind, so a login answered from the cache was logged
    # by this server earlier.
    logins = {
        ("alice", "alice-password"): 200,
        ("bob", "bob-password"): 200,
        ("carol", "carol-password"): 200,
        ("dave", "dave-password"): 403,  # in no allowed group
        ("jsmith", "jsmith-password"): 200,
        ("admin", "admin-directory-password"): 401,  # not the break-glass password
        ("admin", ADMIN_PASSWORD): 200,
        ("carol", "wrong-password-17"): 401,
    }
    for auth, status in logins.items():
        assert get(server, auth=auth).status_code == status, auth
    lines = audit_lines(server)
    success = [line for line in lines if line["result"] == "success"]
    refused = [line for line in lines if line["result"] == "refused"]
    assert success and refused
    for line in lines:
        assert {"event", "user", "source", "result", "reason", "worker"} <= set(line)
    assert any(line["reason"] == "bad_password" and line["user"] == "carol" for line in refused)
    log = server.log()
    for password in PASSWORDS:
        assert password not in log


def test_directory_down_is_503_and_break_glass_admin_still_works(slapd, tmp_path):
    with blackhole_server() as hung:
        dead = f"ldap://127.0.0.1:{free_port()}"
        with start_server(
            tmp_path, f"{dead} {hung.uri}", receive_timeout="1", connect_timeout="1"
        ) as down:
            response = get(down, auth=("alice", "alice-password"))
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            traces = requests.post(
                down.url + "/v1/traces",
                data=b"",
                headers={"X-Mlflow-Experiment-Id": "0"},
                auth=("alice", "alice-password"),
                timeout=30,
            )
            assert traces.status_code == 503
            assert get(down, auth=("admin", ADMIN_PASSWORD)).status_code == 200
            assert re.search(r"no LDAP server answered", down.log())


def test_one_server_of_several_down_is_invisible_to_clients(slapd, tmp_path):
    dead = f"ldap://127.0.0.1:{free_port()}"
    with start_server(tmp_path, f"{dead} {slapd.ldap_uri}") as failover:
        assert get(failover, auth=("alice", "alice-password")).status_code == 200
        assert get(failover, auth=("bob", "bob-password")).status_code == 200


def test_revoked_grant_takes_effect_on_every_worker_within_the_cache_ttl(server):
    created = requests.post(
        server.url + "/api/2.0/mlflow/experiments/create",
        json={"name": "revocation"},
        auth=("alice", "alice-password"),
        timeout=30,
    )
    experiment_id = created.json()["experiment_id"]
    path = f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}"
    for _ in range(6):  # warm bob's cached permission on both workers
        assert get(server, path, auth=("bob", "bob-password")).status_code == 200
    with client_as(server, "carol", "carol-password", app=True) as admin_client:
        revoked_at = time.monotonic()
        admin_client.grant_user_permission("bob", "experiment", experiment_id, "DENY")
    # permission_cache_ttl_seconds defaults to 10: every worker must refuse after that.
    while time.monotonic() - revoked_at < 13:
        statuses = {get(server, path, auth=("bob", "bob-password")).status_code for _ in range(6)}
        if statuses == {403}:
            break
        time.sleep(0.5)
    assert statuses == {403}
    assert time.monotonic() - revoked_at <= 13
