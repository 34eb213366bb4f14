"""Who has access to one resource (docs/admin-page.md#who-has-access-and-why)
against a real slapd and MLflow server.

Every answer is checked against MLflow's own resolution (``get_user_permission``) for
each person who has an MLflow account: the plugin's fold must be MLflow's.
"""

import getpass
import json
import re

import pytest
import requests
from mlflow.exceptions import MlflowException

from servers import (
    ADMIN_PASSWORD,
    CAROL,
    DATA_SCIENCE_DN,
    GROUPS_DN,
    PASSWORDS,
    USERS_DN,
    SlapdInstance,
    add_person,
    client_as,
    flush_caches,
    run_cli,
    start_server,
)

API = "/api/2.0/mlflow/ldap-auth"
PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"


@pytest.fixture(scope="module")
def directory():
    with SlapdInstance() as instance:
        add_person(instance, "erin", "erin-password", groups=[DATA_SCIENCE_DN])
        yield instance


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    with start_server(
        tmp_path_factory, directory, name="access", mlflow={"default_permission": "READ"}
    ) as running:
        yield running


def login(server, user, password=None):
    response = requests.get(
        server.url + "/api/2.0/mlflow/experiments/search?max_results=1",
        auth=(user, password or PASSWORDS[user]),
        timeout=30,
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def world(server):
    """fraud-detection: data-science EDIT, ml-platform DENY, mlflow-users READ on all,
    dave MANAGE by a per-user grant, jsmith EDIT by a hand-made role."""
    for user in ("alice", "bob", "dave", "jsmith"):
        login(server, user)
    with client_as(server, *CAROL, app=True) as client:
        from mlflow import MlflowClient

        experiment_id = MlflowClient(tracking_uri=server.url).create_experiment("fraud-detection")
        other_id = MlflowClient(tracking_uri=server.url).create_experiment("churn")
        mappings = [
            client.create_group_mapping(DATA_SCIENCE_DN, "EDIT", "experiment", experiment_id),
            client.create_group_mapping(PLATFORM_DN, "DENY", "experiment", experiment_id),
            client.create_group_mapping(USERS_DN, "READ", "experiment", "*"),
        ]
        client.grant_user_permission("dave", "experiment", experiment_id, "MANAGE")
        role = client.create_role("default", "reviewers")
        client.add_role_permission(role.id, "experiment", experiment_id, "EDIT")
        client.assign_role("jsmith", role.id)
    flush_caches(server)
    for user in ("alice", "bob", "dave", "jsmith"):
        login(server, user)  # role assignments follow the directory at login
    return {"experiment": experiment_id, "other": other_id, "mappings": mappings}


def answer(server, resource_type="experiment", resource=None, auth=CAROL):
    return requests.get(
        server.url + API + "/access",
        params={"resource_type": resource_type, "resource": resource},
        auth=auth,
        timeout=60,
    )


def by_user(body):
    return {entry["user"]: entry for entry in body["entries"]}


def test_every_route_and_the_resulting_permission(server, world):
    body = answer(server, resource=world["experiment"]).json()
    assert body["resource"] == {
        "type": "experiment",
        "id": world["experiment"],
        "name": "fraud-detection",
        "workspace": "default",
    }
    assert body["default_permission"] == "READ"
    people = by_user(body)
    assert people["alice"]["permission"] == "EDIT"
    kinds = {(v["kind"], v.get("group"), v["permission"]) for v in people["alice"]["via"]}
    assert ("group_mapping", DATA_SCIENCE_DN, "EDIT") in kinds
    assert ("group_mapping", USERS_DN, "READ") in kinds
    # bob: EDIT through data-science's nested ml-platform, but ml-platform is denied.
    assert people["bob"]["permission"] == "DENY"
    nested = next(v for v in people["bob"]["via"] if v.get("group") == DATA_SCIENCE_DN)
    assert nested["through"] == [PLATFORM_DN] and nested["permission"] == "EDIT"
    assert {"DENY", "EDIT"} <= {v["permission"] for v in people["bob"]["via"]}
    assert people["carol"]["permission"] == "MANAGE"
    assert any(v["kind"] == "admin" for v in people["carol"]["via"])
    assert people["dave"]["permission"] == "MANAGE"
    assert {v["kind"] for v in people["dave"]["via"]} == {"user_grant"}
    assert people["jsmith"]["permission"] == "EDIT"
    assert {
        "kind": "role",
        "role": "reviewers",
        "resource_type": "experiment",
        "resource_pattern": world["experiment"],
        "permission": "EDIT",
    } in people["jsmith"]["via"]
    # erin never logged in: listed from the directory all the same.
    assert people["erin"]["permission"] == "EDIT"
    groups = {g["group"]: g for g in body["groups"]}
    assert groups[DATA_SCIENCE_DN]["members"] == 3  # alice, erin and bob (nested)


def test_the_answer_is_mlflows_for_everyone_with_an_account(server, world):
    body = answer(server, resource=world["experiment"]).json()
    login(server, "erin", "erin-password")
    with client_as(server, "admin", ADMIN_PASSWORD, app=True) as client:
        for entry in body["entries"]:
            try:
                account = client.get_user(entry["user"])
            except MlflowException:
                continue  # no MLflow account
            if any(route["kind"] == "admin" for route in entry["via"]):
                # MLflow lets admins past every check; its resolver ignores the flag.
                assert account.is_admin and entry["permission"] == "MANAGE", entry
                continue
            mlflow_says = client.get_user_permission(
                entry["user"], "experiment", world["experiment"]
            )
            assert mlflow_says.permission == entry["permission"], entry
        # Someone with no route gets the default, and is not listed.
        assert "dave2" not in by_user(body)


def test_other_experiment_has_only_the_wildcard_routes(server, world):
    people = by_user(answer(server, resource=world["other"]).json())
    assert people["alice"]["permission"] == "READ"
    assert "dave" not in people or people["dave"]["permission"] != "MANAGE"
    # Besides the wildcard mapping: MLflow's own grant to the experiment's creator.
    specific = {
        (e["user"], v["kind"], v["permission"])
        for e in people.values()
        for v in e["via"]
        if v.get("resource_pattern") not in (None, "*")
    }
    assert specific == {("carol", "user_grant", "MANAGE")}


@pytest.mark.parametrize("spelling", ["fraud-detection", " fraud-detection "])
def test_an_experiment_is_named_by_its_name_too(server, world, spelling):
    body = answer(server, resource=spelling).json()
    assert body["resource"]["id"] == world["experiment"]


def test_the_client_returns_the_rest_answer(server, world):
    with client_as(server, *CAROL, app=True) as client:
        from_client = client.who_has_access("experiment", "fraud-detection")
    assert from_client == answer(server, resource=world["experiment"]).json()


@pytest.mark.parametrize(
    ("resource_type", "resource", "status", "code"),
    [
        ("experiment", "no-such-experiment", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("experiment", "987654", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("bogus", "1", 400, "INVALID_PARAMETER_VALUE"),
        ("workspace", "default", 400, "INVALID_PARAMETER_VALUE"),
        ("experiment", "", 400, "INVALID_PARAMETER_VALUE"),
        ("experiment", None, 400, "INVALID_PARAMETER_VALUE"),
        ("experiment", "*)(uid=*", 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_bad_questions_get_mlflow_errors(server, world, resource_type, resource, status, code):
    response = answer(server, resource_type, resource)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code


def test_admins_only(server, world):
    assert answer(server, resource=world["experiment"], auth=None).status_code == 401
    denied = answer(server, resource=world["experiment"], auth=("alice", "alice-password"))
    assert denied.status_code == 403


@pytest.fixture(scope="module")
def exported(server, world) -> str:
    """``mappings export`` of the world's mappings, one run for the tests that import
    them back changed (the one that applies its import changes them after)."""
    return run_cli(server.config_path, "mappings", "export").stdout


def test_dry_run_import_prints_who_gains_and_loses(server, world, exported, tmp_path):
    document = json.loads(exported)
    document["group_mappings"] = [
        m for m in document["group_mappings"] if m["permission"] != "DENY"
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    dry = run_cli(server.config_path, "mappings", "import", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"experiment {world['experiment']} in workspace default: 1 person" in dry.stdout
    assert "bob: DENY -> EDIT (gains)" in dry.stdout
    assert "alice:" not in dry.stdout  # not in ml-platform: nothing changes for her


def test_an_import_from_the_command_line_is_kept_in_the_activity_table(
    server, world, exported, tmp_path
):
    document = json.loads(exported)
    document["group_mappings"] = [
        m for m in document["group_mappings"] if m["permission"] != "DENY"
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    applied = run_cli(server.config_path, "mappings", "import", str(path))
    try:
        assert applied.returncode == 0, applied.stderr
        assert "bob: DENY -> EDIT (gains)" in applied.stdout
        with client_as(server, *CAROL, app=True) as client:
            records = client.activity(event="mapping_deleted")["records"]
        assert records and records[0]["user"] == f"cli:{getpass.getuser()}"
        assert records[0]["details"]["before"]["permission"] == "DENY"
        people = by_user(answer(server, resource=world["experiment"]).json())
        assert people["bob"]["permission"] == "EDIT"
    finally:  # the world as the module's other tests know it, whatever ran before
        path.write_text(exported)
        restored = run_cli(server.config_path, "mappings", "import", str(path))
        assert restored.returncode == 0, restored.stderr


# -- the test-user page folds as who has access and MLflow do ------------------------
@pytest.fixture(scope="module")
def floor_server(directory, tmp_path_factory):
    """default_permission EDIT: a READ mapping is lifted to it, a DENY is not."""
    with start_server(
        tmp_path_factory, directory, name="floor", mlflow={"default_permission": "EDIT"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def floor_world(floor_server):
    """An experiment where data-science has READ and ml-platform DENY."""
    with client_as(floor_server, *CAROL, app=True) as client:
        from mlflow import MlflowClient

        experiment_id = MlflowClient(tracking_uri=floor_server.url).create_experiment("floored")
        client.create_group_mapping(DATA_SCIENCE_DN, "READ", "experiment", experiment_id)
        client.create_group_mapping(PLATFORM_DN, "DENY", "experiment", experiment_id)
    for user in ("alice", "bob"):
        login(floor_server, user)  # their roles follow the mappings from this login on
    return experiment_id


def sets_a_tag(server, user, experiment_id) -> int:
    """What MLflow answers ``user`` who changes the experiment (EDIT needed)."""
    return requests.post(
        server.url + "/api/2.0/mlflow/experiments/set-experiment-tag",
        json={"experiment_id": experiment_id, "key": "reviewed", "value": user},
        auth=(user, PASSWORDS[user]),
        timeout=60,
    ).status_code


def user_page_permission(server, user, experiment_id) -> str:
    page = requests.get(
        server.url + "/ldap-admin/users", params={"username": user}, auth=CAROL, timeout=60
    )
    assert page.status_code == 200, page.text
    row = re.search(rf'<tr data-resource="experiment {experiment_id}"[^>]*>', page.text)
    assert row, page.text
    return re.search(r'data-permission="([A-Z_]+)"', row.group(0)).group(1)


@pytest.mark.parametrize(
    ("user", "permission", "decided_by", "can_edit"),
    [
        ("alice", "EDIT", "default_permission", True),  # READ, lifted to default_permission
        ("bob", "DENY", "mappings", False),  # EDIT through data-science, DENY wins
    ],
)
def test_the_test_user_answer_is_who_has_access_and_mlflows(
    floor_server, floor_world, user, permission, decided_by, can_edit
):
    with client_as(floor_server, *CAROL, app=True) as client:
        looked_up = client.lookup_user(user)
        access = client.who_has_access("experiment", floor_world)
    (row,) = [
        p
        for p in looked_up["permissions"]
        if (p["resource_type"], p["resource_pattern"]) == ("experiment", floor_world)
    ]
    assert row["permission"] == permission
    assert row["decided_by"] == decided_by
    assert by_user(access)[user]["permission"] == permission
    assert user_page_permission(floor_server, user, floor_world) == permission
    with client_as(floor_server, "admin", ADMIN_PASSWORD, app=True) as client:
        mlflow_says = client.get_user_permission(user, "experiment", floor_world)
    assert mlflow_says.permission == permission
    assert sets_a_tag(floor_server, user, floor_world) == (200 if can_edit else 403)


def test_a_directory_outage_is_a_503(server, world, directory):
    directory.stop()
    try:
        flush_caches_safe(server)
        response = answer(server, resource=world["experiment"], auth=("admin", ADMIN_PASSWORD))
        assert response.status_code == 503, response.text
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    finally:  # on the same port: the module's other tests may run after this one
        directory.start_again()


def flush_caches_safe(server):
    requests.post(server.url + API + "/cache/flush", auth=("admin", ADMIN_PASSWORD), timeout=30)
