"""An auth database carried over from MLflow's basic-auth
(docs/security.md#accounts-that-existed-before).

Each test seeds MLflow's own auth database the way ``mlflow server --app-name
basic-auth`` would have left it (through MLflow's store, in a separate process, so
this test process never imports ``mlflow.server.auth`` with basic-auth's config), then
starts ``mlflow server --app-name ldap-auth`` on it.
"""

import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests

from servers import (
    ADMIN_PASSWORD,
    CAROL,
    audit_lines,
    start_server,
    wait_for_audit,
)

SEED = """
import json, sys
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
spec = json.loads(sys.argv[1])
store = SqlAlchemyStore()
store.init_db(spec["database_uri"])
for user in spec["users"]:
    store.create_user(user["username"], user["password"], is_admin=user["is_admin"])
for grant in spec.get("grants", []):
    store.grant_user_permission(*grant)
"""


def seed_basic_auth_database(database_uri: str, users: list[dict], grants=()) -> None:
    spec = {"database_uri": database_uri, "users": users, "grants": list(grants)}
    subprocess.run([sys.executable, "-c", SEED, json.dumps(spec)], check=True, timeout=120)


def test_break_glass_login_with_the_legacy_default_password_is_refused(slapd, tmp_path):
    database_uri = f"sqlite:///{tmp_path}/auth.db"
    seed_basic_auth_database(
        database_uri, [{"username": "admin", "password": "password1234", "is_admin": True}]
    )
    # No admin_password: MLflow does not rotate it, the deployment keeps the old row.
    with start_server(
        tmp_path, slapd, mlflow={"database_uri": database_uri, "admin_password": None}
    ) as server:
        url = server.url + "/api/2.0/mlflow/users/get?username=admin"
        legacy = requests.get(url, auth=("admin", "password1234"), timeout=30)
        assert legacy.status_code == 401, legacy.text
        assert legacy.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
        refusals = audit_lines(server, user="admin")
        assert refusals and refusals[-1]["reason"] == "legacy_default_password"
        # Directory users are unaffected.
        listed = requests.get(
            server.url + "/api/2.0/mlflow/users/list", auth=("carol", "carol-password"), timeout=30
        )
        assert listed.status_code == 200, listed.text


def test_directory_user_adopts_a_basic_auth_account_without_its_admin_flag(slapd, tmp_path):
    database_uri = f"sqlite:///{tmp_path}/auth.db"
    seed_basic_auth_database(
        database_uri,
        [
            {"username": "admin", "password": ADMIN_PASSWORD, "is_admin": True},
            # An old basic-auth admin that happens to share a directory user's name.
            {"username": "alice", "password": "old-basic-auth-pw", "is_admin": True},
        ],
        grants=[("alice", "experiment", "0", "EDIT")],
    )
    # No admin_groups and no admin mappings: nothing in the directory makes alice admin.
    admin = ("admin", ADMIN_PASSWORD)
    with start_server(
        tmp_path,
        slapd,
        mlflow={"database_uri": database_uri, "default_permission": "NO_PERMISSIONS"},
        workers=2,
        admin_groups=None,
    ) as server:
        # Concurrent first logins, spread over both workers: one adoption, all served.
        barrier = threading.Barrier(24)
        statuses = []

        def first_request():
            barrier.wait()
            response = requests.get(
                server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
                auth=("alice", "alice-password"),
                timeout=30,
            )
            statuses.append(response.status_code)  # 200: her EDIT grant was kept

        threads = [threading.Thread(target=first_request) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 24
        user = requests.get(
            server.url + "/api/2.0/mlflow/users/get?username=alice", auth=admin, timeout=30
        ).json()["user"]
        assert user["is_admin"] is False
        # Not an admin any more, on any worker: the admin-only API refuses her.
        for _ in range(6):
            status = requests.get(
                server.url + "/api/2.0/mlflow/ldap-auth/status",
                auth=("alice", "alice-password"),
                timeout=30,
            )
            assert status.status_code == 403
        permission = requests.get(
            server.url + "/api/3.0/mlflow/users/permissions/get",
            params={"username": "alice", "resource_type": "experiment", "resource_id": "0"},
            auth=admin,
            timeout=30,
        )
        assert permission.status_code == 200, permission.text
        assert "EDIT" in permission.text
        adopted = audit_lines(server, event="user_adopted")
        assert len(adopted) == 1, adopted
        assert adopted[0]["user"] == "alice" and adopted[0]["previous_admin"] is True
        # The old basic-auth password is not a way in.
        old = requests.get(
            server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
            auth=("alice", "old-basic-auth-pw"),
            timeout=30,
        )
        assert old.status_code == 401


# -- the break-glass admin's row is never a directory user's -------------------------
# The seeded directory has a person uid=admin (openldap/seed.ldif), the break-glass name.
# These tests need no carried-over database: they share one server on a fresh one
# (login_domains only changes how the first test's spellings resolve). The two above
# each start on their own seeded database, first-ever starts, and so keep their own.

USERS_GET = "/api/2.0/mlflow/users/get"
BREAK_GLASS = ("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(tmp_path_factory, slapd, name="break-glass", login_domains="CORP") as running:
        yield running


def assert_break_glass_admin_intact(server) -> None:
    """Still MLflow's admin: its row says so and the admin-only answers open to it."""
    user = requests.get(server.url + USERS_GET, params={"username": "admin"}, auth=BREAK_GLASS)
    assert user.status_code == 200, user.text
    assert user.json()["user"]["is_admin"] is True
    status = requests.get(server.url + "/api/2.0/mlflow/ldap-auth/status", auth=BREAK_GLASS)
    assert status.status_code == 200, status.text
    assert audit_lines(server, event="user_adopted") == []


def test_an_admin_naming_the_break_glass_entry_in_any_form_adopts_nothing(server):
    # The forms an admin types for a directory user: every one resolves to uid=admin.
    for spelling in ("CORP\\admin", "corp\\ADMIN", "Corp\\Admin "):
        before = len(audit_lines(server, event="user_provisioned", result="refused"))
        answer = requests.get(
            server.url + USERS_GET, params={"username": spelling}, auth=CAROL, timeout=30
        )
        assert answer.status_code == 400, (spelling, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "break-glass" in answer.json()["message"]
        refused = wait_for_audit(server, before, event="user_provisioned", result="refused")[-1]
        assert refused["reason"] == "local_admin_name" and refused["by"] == "carol"
        assert_break_glass_admin_intact(server)
    # ... and it still administers: grants to a directory user go through.
    granted = requests.post(
        server.url + "/api/3.0/mlflow/users/permissions/grant",
        json={
            "username": "alice",
            "resource_type": "experiment",
            "resource_id": "0",
            "permission": "EDIT",
        },
        auth=BREAK_GLASS,
    )
    assert granted.status_code == 200, granted.text
    assert_break_glass_admin_intact(server)


def test_a_revalidation_of_the_break_glass_name_adopts_nothing(server):
    """A token row owned by the break-glass name (made while ``admin_username`` was
    another name): using it makes the revalidator read the directory entry ``admin``."""
    from mlflow_ldap_auth.tokens.secret_format import new_secret, secret_hash

    secret = new_secret()
    now = int(time.time())
    database = server.config_path.parent / "auth.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO ldap_auth_tokens (id, owner, name, secret_hash, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("0123456789abcdef", "admin", "old", secret_hash(secret), now, now + 86_400),
        )
    search = server.url + "/api/2.0/mlflow/experiments/search?max_results=1"
    answer = requests.get(search, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert answer.status_code == 401, answer.text
    refused = wait_for_audit(server, 0, event="token_refused", user="admin")[-1]
    assert refused["reason"] == "owner_local_admin_name"
    assert_break_glass_admin_intact(server)
