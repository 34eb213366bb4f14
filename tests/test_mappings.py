"""Group mappings end to end: real slapd, real server, MLflow's own client enforcing them."""

import json
import subprocess
import sys
import time

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client

from servers import (
    ADMIN_PASSWORD,
    DATA_SCIENCE_DN,
    GROUPS_DN,
    USERS_DN,
    MlflowServer,
    SlapdInstance,
    ldap_config,
)

PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"
API = "/api/2.0/mlflow/ldap-auth"
PASSWORDS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "carol": "carol-password",
    "jsmith": "jsmith-password",
}


@pytest.fixture(scope="module")
def directory():
    """A slapd of this module's own: these tests rename groups and change members."""
    with SlapdInstance() as instance:
        yield instance


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    config = ldap_config(
        tmp_path_factory.mktemp("mappings"),
        directory.ldap_uri,
        mlflow={"default_permission": "NO_PERMISSIONS"},
    )
    with MlflowServer(config, workers=1) as running:
        yield running


def client_as(server, monkeypatch, user):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS.get(user, ADMIN_PASSWORD))
    return MlflowClient(tracking_uri=server.url)


def admin_client(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "carol")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "carol-password")
    return get_app_client("ldap-auth", tracking_uri=server.url)


def visible(server, monkeypatch, user) -> set[str]:
    client = client_as(server, monkeypatch, user)
    return {e.name for e in client.search_experiments()}


def can_log_run(server, monkeypatch, user, experiment_id) -> bool:
    client = client_as(server, monkeypatch, user)
    try:
        run = client.create_run(experiment_id)
    except MlflowException as exc:
        assert "403" in str(exc) or "PERMISSION_DENIED" in str(exc) or "denied" in str(exc)
        return False
    client.log_metric(run.info.run_id, "m", 1.0)
    return True


def flush(server):
    response = requests.post(
        server.url + API + "/cache/flush", auth=("carol", "carol-password"), timeout=30
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def experiments(server):
    ids = {}
    for name in ("ds-exp", "platform-exp", "secret-exp"):
        response = requests.post(
            server.url + "/api/2.0/mlflow/experiments/create",
            json={"name": name},
            auth=("carol", "carol-password"),
            timeout=30,
        )
        ids[name] = response.json()["experiment_id"]
    return ids


@pytest.fixture(scope="module")
def base_mappings(server, experiments):
    """data-science may EDIT ds-exp; ml-platform may READ platform-exp."""
    auth = ("carol", "carol-password")
    created = []
    for body in (
        {
            "group": DATA_SCIENCE_DN,
            "resource_type": "experiment",
            "resource_pattern": experiments["ds-exp"],
            "permission": "EDIT",
        },
        {
            "group": PLATFORM_DN,
            "resource_type": "experiment",
            "resource_pattern": experiments["platform-exp"],
            "permission": "READ",
        },
    ):
        response = requests.post(
            server.url + API + "/group-mappings", json=body, auth=auth, timeout=30
        )
        assert response.status_code == 200, response.text
        created.append(response.json()["group_mapping"])
    flush(server)
    return created


def test_groups_see_different_experiments_and_may_or_may_not_log_runs(
    server, experiments, base_mappings, monkeypatch
):
    assert visible(server, monkeypatch, "alice") == {"ds-exp"}
    # bob is in ml-platform, which is nested in data-science: both grants apply.
    assert visible(server, monkeypatch, "bob") == {"ds-exp", "platform-exp"}
    assert visible(server, monkeypatch, "jsmith") == set()
    assert can_log_run(server, monkeypatch, "alice", experiments["ds-exp"])
    assert not can_log_run(server, monkeypatch, "alice", experiments["platform-exp"])
    assert can_log_run(server, monkeypatch, "bob", experiments["ds-exp"])  # nested grant
    assert not can_log_run(server, monkeypatch, "bob", experiments["platform-exp"])  # READ only
    assert not can_log_run(server, monkeypatch, "jsmith", experiments["ds-exp"])


def test_mappings_are_mlflow_roles_and_listed_with_current_dn(server, base_mappings, monkeypatch):
    client = admin_client(server, monkeypatch)
    listed = client.list_group_mappings()
    ids = {m["id"] for m in listed}
    assert {m["id"] for m in base_mappings} <= ids
    mapping = next(m for m in listed if m["id"] == base_mappings[0]["id"])
    assert mapping["group"] == DATA_SCIENCE_DN and mapping["group_uuid"]
    roles = {role.name for role in client.list_all_roles()}
    assert f"ldap-group:{mapping['group_uuid']}" in roles


def test_deny_beats_a_grant(server, experiments, base_mappings, monkeypatch):
    client = admin_client(server, monkeypatch)
    deny = client.create_group_mapping(
        group=USERS_DN,
        permission="DENY",
        resource_type="experiment",
        resource_pattern=experiments["ds-exp"],
    )
    try:
        flush(server)
        assert "ds-exp" not in visible(server, monkeypatch, "alice")
        assert not can_log_run(server, monkeypatch, "alice", experiments["ds-exp"])
    finally:
        admin_client(server, monkeypatch).delete_group_mapping(deny["id"])
        flush(server)
    assert "ds-exp" in visible(server, monkeypatch, "alice")


def test_lookup_user_explains_access(server, base_mappings, monkeypatch):
    info = admin_client(server, monkeypatch).lookup_user("bob")
    assert info["dn"] == "uid=bob,ou=people,dc=example,dc=org"
    assert DATA_SCIENCE_DN in info["groups"]["nested"]
    assert PLATFORM_DN in info["groups"]["direct"]
    assert {"group": DATA_SCIENCE_DN, "via": PLATFORM_DN} in info["nesting"]
    assert info["admin"] is False
    assert {p["permission"] for p in info["permissions"]} == {"EDIT", "READ"}
    assert admin_client(server, monkeypatch).lookup_user("carol")["admin"] is True


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"group": DATA_SCIENCE_DN, "resource_type": "experiment", "permission": "WRITE"},
            "permission",
        ),
        (
            {
                "group": DATA_SCIENCE_DN,
                "resource_type": "run",
                "resource_pattern": "abc123",
                "permission": "READ",
            },
            "wildcard",
        ),
        (
            {"group": DATA_SCIENCE_DN, "resource_type": "workspace", "permission": "EDIT"},
            "workspace",
        ),
        ({"group": "not a dn", "resource_type": "experiment", "permission": "READ"}, "DN"),
        (
            {
                "group": f"cn=no-such-group,{GROUPS_DN}",
                "resource_type": "experiment",
                "permission": "READ",
            },
            "no group",
        ),
        (
            {"group": DATA_SCIENCE_DN, "resource_type": "spaceship", "permission": "READ"},
            "resource",
        ),
        (
            {
                "group": DATA_SCIENCE_DN,
                "resource_type": "experiment",
                "permission": "READ",
                "workspace": "elsewhere",
            },
            "workspace",
        ),
        (
            {
                "group": DATA_SCIENCE_DN,
                "resource_type": "experiment",
                "permission": "READ",
                "colour": "blue",
            },
            "unknown field",
        ),
    ],
)
def test_bad_mapping_input_is_refused_and_changes_nothing(server, base_mappings, body, fragment):
    auth = ("carol", "carol-password")
    before = requests.get(server.url + API + "/group-mappings", auth=auth, timeout=30).json()
    response = requests.post(server.url + API + "/group-mappings", json=body, auth=auth, timeout=30)
    assert 400 <= response.status_code < 500, response.text
    assert fragment.lower() in response.json()["message"].lower()
    after = requests.get(server.url + API + "/group-mappings", auth=auth, timeout=30).json()
    assert after == before


def test_api_is_for_admins_only(server, base_mappings):
    body = {"group": DATA_SCIENCE_DN, "resource_type": "experiment", "permission": "MANAGE"}
    for method, path in (
        ("POST", "/group-mappings"),
        ("GET", "/group-mappings"),
        ("DELETE", f"/group-mappings/{base_mappings[0]['id']}"),
        ("GET", "/users/bob"),
        ("POST", "/cache/flush"),
        ("GET", "/status"),
    ):
        response = requests.request(
            method, server.url + API + path, json=body, auth=("alice", "alice-password"), timeout=30
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error_code"] == "PERMISSION_DENIED"
        anonymous = requests.request(method, server.url + API + path, timeout=30)
        assert anonymous.status_code == 401
    # The break-glass admin may use it.
    listed = requests.get(
        server.url + API + "/group-mappings", auth=("admin", ADMIN_PASSWORD), timeout=30
    )
    assert listed.status_code == 200


def test_status_reports_servers_and_caches(server, monkeypatch):
    status = admin_client(server, monkeypatch).status()
    assert status["servers"][0]["reachable"] is True
    assert status["service_bind"]["ok"] is True
    assert {"size", "hits", "misses", "hit_ratio"} <= set(status["cache"])


def test_admin_mapping_makes_members_admins(server, directory, monkeypatch):
    def alice_reads_carol() -> int:
        # Reading another user's record is for admins only in MLflow.
        return requests.get(
            server.url + "/api/2.0/mlflow/users/get?username=carol",
            auth=("alice", "alice-password"),
            timeout=30,
        ).status_code

    assert alice_reads_carol() == 403
    admin = admin_client(server, monkeypatch).create_group_mapping(
        group=DATA_SCIENCE_DN, permission="MANAGE", resource_type="admin"
    )
    try:
        flush(server)
        assert alice_reads_carol() == 200
    finally:
        admin_client(server, monkeypatch).delete_group_mapping(admin["id"])
        flush(server)
    assert alice_reads_carol() == 403


def test_removed_from_group_loses_access_after_flush(
    server, directory, experiments, base_mappings, monkeypatch
):
    assert "ds-exp" in visible(server, monkeypatch, "alice")
    directory.ldif(
        "ldapmodify",
        f"dn: {DATA_SCIENCE_DN}\nchangetype: modify\ndelete: member\n"
        "member: uid=alice,ou=people,dc=example,dc=org\n",
    )
    try:
        assert "ds-exp" in visible(server, monkeypatch, "alice")  # cached until TTL / flush
        flush(server)
        assert "ds-exp" not in visible(server, monkeypatch, "alice")
    finally:
        directory.ldif(
            "ldapmodify",
            f"dn: {DATA_SCIENCE_DN}\nchangetype: modify\nadd: member\n"
            "member: uid=alice,ou=people,dc=example,dc=org\n",
        )
        flush(server)
    assert "ds-exp" in visible(server, monkeypatch, "alice")


def test_renamed_group_keeps_its_mapping(
    server, directory, experiments, base_mappings, monkeypatch
):
    renamed = f"cn=ml-platform-renamed,{GROUPS_DN}"
    directory.ldif("ldapmodrdn", f"{PLATFORM_DN}\ncn=ml-platform-renamed\n")
    try:
        flush(server)
        # bob is in the renamed group; the mapping follows it by entryUUID.
        assert "platform-exp" in visible(server, monkeypatch, "bob")
        listed = admin_client(server, monkeypatch).list_group_mappings()
        groups = {m["group"] for m in listed}
        assert renamed in groups and PLATFORM_DN not in groups
    finally:
        directory.ldif("ldapmodrdn", f"{renamed}\ncn=ml-platform\n")
        flush(server)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        groups = {m["group"] for m in admin_client(server, monkeypatch).list_group_mappings()}
        if PLATFORM_DN in groups:
            break
    assert PLATFORM_DN in groups


def run_cli(config, *args):
    return subprocess.run(
        [sys.executable, "-m", "mlflow_ldap_auth", "mappings", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_export_import_round_trip_dry_run_and_idempotence(
    server, directory, base_mappings, experiments, tmp_path
):
    config = server.config_path
    exported = run_cli(config, "export")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert {m["permission"] for m in document["group_mappings"]} >= {"EDIT", "READ"}
    file = tmp_path / "m.json"
    file.write_text(exported.stdout)
    same = run_cli(config, "import", str(file))
    assert same.returncode == 0 and "no changes" in same.stdout

    changed = dict(document)
    changed["group_mappings"] = [
        m for m in document["group_mappings"] if m["resource_pattern"] != experiments["ds-exp"]
    ] + [
        {
            "group": USERS_DN,
            "resource_type": "registered_model",
            "resource_pattern": "*",
            "permission": "READ",
            "workspace": "default",
        }
    ]
    file.write_text(json.dumps(changed))
    before = run_cli(config, "export").stdout
    dry = run_cli(config, "import", str(file), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ " + USERS_DN in dry.stdout and "- " + DATA_SCIENCE_DN in dry.stdout
    assert run_cli(config, "export").stdout == before  # dry run changed nothing
    try:
        applied = run_cli(config, "import", str(file))
        assert applied.returncode == 0, applied.stderr
        assert "1 added, 1 removed" in applied.stdout
        again = run_cli(config, "import", str(file))
        assert "no changes" in again.stdout  # idempotent
    finally:
        file.write_text(before)
        restored = run_cli(config, "import", str(file))
        assert restored.returncode == 0, restored.stderr


def test_import_with_a_bad_entry_changes_nothing(server, tmp_path):
    config = server.config_path
    before = run_cli(config, "export").stdout
    file = tmp_path / "bad.json"
    file.write_text(
        json.dumps(
            {
                "version": 1,
                "group_mappings": [
                    {
                        "group": USERS_DN,
                        "resource_type": "experiment",
                        "resource_pattern": "*",
                        "permission": "READ",
                    },
                    {
                        "group": f"cn=ghost,{GROUPS_DN}",
                        "resource_type": "experiment",
                        "permission": "READ",
                    },
                ],
            }
        )
    )
    result = run_cli(config, "import", str(file))
    assert result.returncode == 1
    assert "ghost" in result.stderr
    assert run_cli(config, "export").stdout == before
