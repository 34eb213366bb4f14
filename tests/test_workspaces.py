"""A workspace-scoped mapping applies only in its workspace (server with --enable-workspaces)."""

import pytest
import requests

from servers import DATA_SCIENCE_DN, flush_caches, start_server

ADMIN = ("carol", "carol-password")
ALICE = ("alice", "alice-password")
API = "/api/2.0/mlflow/ldap-auth"


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        slapd,
        name="ws",
        mlflow={"default_permission": "NO_PERMISSIONS"},
        extra_args=["--enable-workspaces"],
    ) as running:
        yield running


def call(server, method, path, auth=ADMIN, workspace=None, **kwargs):
    headers = {"X-MLFLOW-WORKSPACE": workspace} if workspace else {}
    return requests.request(
        method, server.url + path, auth=auth, headers=headers, timeout=30, **kwargs
    )


def experiment_names(server, workspace) -> set[str]:
    response = call(
        server,
        "POST",
        "/api/2.0/mlflow/experiments/search",
        auth=ALICE,
        workspace=workspace,
        json={"max_results": 100},
    )
    assert response.status_code == 200, response.text
    return {e["name"] for e in response.json().get("experiments", [])}


def workspace_state(server) -> dict:
    """What a mapping could change: the mappings, the workspaces, what alice sees where."""
    mappings = call(server, "GET", API + "/group-mappings")
    assert mappings.status_code == 200, mappings.text
    workspaces = call(server, "GET", "/api/3.0/mlflow/workspaces")
    assert workspaces.status_code == 200, workspaces.text
    flush_caches(server, ADMIN)  # alice's permissions read afresh
    return {
        "mappings": mappings.json(),
        "workspaces": sorted(w["name"] for w in workspaces.json()["workspaces"]),
        "team-a": experiment_names(server, "team-a"),
        "team-b": experiment_names(server, "team-b"),
    }


def test_mapping_applies_only_in_its_workspace(server):
    for workspace in ("team-a", "team-b"):
        assert (
            call(server, "POST", "/api/3.0/mlflow/workspaces", json={"name": workspace}).status_code
            == 201
        )
        created = call(
            server,
            "POST",
            "/api/2.0/mlflow/experiments/create",
            workspace=workspace,
            json={"name": f"exp-{workspace}"},
        )
        assert created.status_code == 200, created.text
    for resource_type, permission in (("workspace", "USE"), ("experiment", "READ")):
        mapping = call(
            server,
            "POST",
            API + "/group-mappings",
            json={
                "group": DATA_SCIENCE_DN,
                "resource_type": resource_type,
                "resource_pattern": "*",
                "permission": permission,
                "workspace": "team-a",
            },
        )
        assert mapping.status_code == 200, mapping.text
    assert experiment_names(server, "team-a") == {"exp-team-a"}
    assert experiment_names(server, "team-b") == set()
    # A mapping into a workspace that does not exist is refused and changes nothing.
    before = workspace_state(server)
    assert "no-such-workspace" not in before["workspaces"]
    bad = call(
        server,
        "POST",
        API + "/group-mappings",
        json={
            "group": DATA_SCIENCE_DN,
            "resource_type": "experiment",
            "resource_pattern": "*",
            "permission": "READ",
            "workspace": "no-such-workspace",
        },
    )
    assert 400 <= bad.status_code < 500, bad.text
    assert workspace_state(server) == before


def experiment_id(server, workspace, name) -> str:
    response = call(
        server,
        "GET",
        f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}",
        workspace=workspace,
    )
    assert response.status_code == 200, response.text
    return response.json()["experiment"]["experiment_id"]


def test_who_has_access_answers_in_the_resources_workspace(server):
    """After the test above: data-science may read every experiment of team-a only."""
    for workspace, reads in (("team-a", True), ("team-b", False)):
        resource = experiment_id(server, workspace, f"exp-{workspace}")
        response = call(
            server,
            "GET",
            API + "/access",
            params={"resource_type": "experiment", "resource": resource},
            workspace=workspace,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["resource"]["workspace"] == workspace
        people = {entry["user"]: entry for entry in body["entries"]}
        assert ("alice" in people) is reads, people
        if reads:
            assert people["alice"]["permission"] == "READ"
        # By name too, in the workspace the request names.
        by_name = call(
            server,
            "GET",
            API + "/access",
            params={"resource_type": "experiment", "resource": f"exp-{workspace}"},
            workspace=workspace,
        )
        assert by_name.status_code == 200, by_name.text
        assert by_name.json()["resource"]["id"] == resource

        # Or in the workspace a parameter names (the admin page's links send no header).
        by_param = call(
            server,
            "GET",
            API + "/access",
            params={
                "resource_type": "experiment",
                "resource": f"exp-{workspace}",
                "workspace": workspace,
            },
        )
        assert by_param.status_code == 200, by_param.text
        assert by_param.json()["resource"]["id"] == resource
        # With workspaces on, someone with no role in the workspace gets nothing.
        assert by_param.json()["everyone_else"] == "NO_PERMISSIONS"
