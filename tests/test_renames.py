"""Renaming a registered model or prompt that group mappings name
(docs/group-mappings.md#renaming-a-model-or-prompt-that-mappings-name).

A mapping's grant is keyed by the name: a rename would leave it on the old name (a model
created there later inherits it) or hand a grant on the new name to the renamed model.
The rename is refused, naming each mapping, on every MLflow release the plugin supports;
the answer never names the internal role. Renames no mapping names work as MLflow's do.
"""

import pytest
import requests
from mlflow.prompt.constants import IS_PROMPT_TAG_KEY

from servers import (
    CAROL,
    DATA_SCIENCE_DN,
    PASSWORDS,
    START_SECONDS,
    USERS_DN,
    audit_lines,
    flush_caches,
    start_server,
    wait_for_audit,
    wait_until,
)

ALICE = ("alice", PASSWORDS["alice"])  # member of data-science
BOB = ("bob", PASSWORDS["bob"])  # member of ml-platform, inside data-science
JSMITH = ("jsmith", PASSWORDS["jsmith"])  # in no mapped group
MAPPINGS = "/api/2.0/mlflow/ldap-auth/group-mappings"
MODELS = "/api/2.0/mlflow/registered-models"
RENAME = MODELS + "/rename"
AJAX_RENAME = "/ajax-api/2.0/mlflow/registered-models/rename"


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        slapd,
        name="renames",
        mlflow={"default_permission": "NO_PERMISSIONS"},
        workers=1,
    ) as running:
        yield running


def call(server, method, path, auth=CAROL, **kwargs):
    return requests.request(method, server.url + path, auth=auth, timeout=30, **kwargs)


def create_model(server, name, prompt=False, prefix=""):
    tags = [{"key": IS_PROMPT_TAG_KEY, "value": "true"}] if prompt else []
    created = call(server, "POST", prefix + MODELS + "/create", json={"name": name, "tags": tags})
    assert created.status_code == 200, created.text


def read_model(server, name, auth=CAROL, prefix="") -> requests.Response:
    return call(server, "GET", prefix + MODELS + "/get", auth=auth, params={"name": name})


def map_group(server, group, resource_type, name, permission="READ", prefix="") -> str:
    created = call(
        server,
        "POST",
        prefix + MAPPINGS,
        json={
            "group": group,
            "resource_type": resource_type,
            "resource_pattern": name,
            "permission": permission,
        },
    )
    assert created.status_code == 200, created.text
    if not prefix:
        flush_caches(server)  # members logged in already get the group's grant now
    return created.json()["group_mapping"]["id"]


def unmap(server, mapping_id):
    deleted = call(server, "DELETE", f"{MAPPINGS}/{mapping_id}")
    assert deleted.status_code == 200, deleted.text


def grant_jsmith(server, name, permission):
    """A per-user grant, through MLflow's own user permission API."""
    granted = call(
        server,
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        json={
            "username": "jsmith",
            "resource_type": "registered_model",
            "resource_id": name,
            "permission": permission,
        },
    )
    assert granted.status_code == 200, granted.text


def rename(server, name, new_name, auth=CAROL, path=RENAME) -> requests.Response:
    return call(server, "POST", path, auth=auth, json={"name": name, "new_name": new_name})


def assert_refused_naming(answer: requests.Response, *mappings: tuple[str, str]):
    """400 in MLflow's error shape naming each (group DN, mapping id), no MLflow role."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    for group, mapping_id in mappings:
        assert group in body["message"] and mapping_id in body["message"], body["message"]
    assert "ldap-group:" not in body["message"], body["message"]


def test_a_mapped_model_keeps_its_name_and_its_group(server):
    create_model(server, "churn")
    mapping_id = map_group(server, DATA_SCIENCE_DN, "registered_model", "churn")
    assert read_model(server, "churn", auth=ALICE).status_code == 200

    refusals = len(audit_lines(server, event="rename_refused"))
    for path in (RENAME, AJAX_RENAME):
        assert_refused_naming(
            rename(server, "churn", "churn-v2", path=path), (DATA_SCIENCE_DN, mapping_id)
        )
    record = wait_for_audit(server, after=refusals, event="rename_refused")[0]
    assert record["user"] == "carol" and record["result"] == "refused", record
    assert record["reason"] == "mapped_name" and record["mappings"] == [mapping_id], record
    assert (record["name"], record["new_name"]) == ("churn", "churn-v2"), record
    assert read_model(server, "churn").json()["registered_model"]["name"] == "churn"
    assert read_model(server, "churn-v2").status_code == 404
    assert read_model(server, "churn", auth=ALICE).status_code == 200
    assert read_model(server, "churn", auth=BOB).status_code == 200

    unmap(server, mapping_id)
    renamed = rename(server, "churn", "churn-v2")
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["registered_model"]["name"] == "churn-v2"
    # Nothing of the group's stayed on the old name for a model created under it.
    create_model(server, "churn")
    assert read_model(server, "churn", auth=ALICE).status_code == 403
    assert read_model(server, "churn-v2", auth=ALICE).status_code == 403


def test_every_mapping_on_either_name_is_named(server):
    create_model(server, "fraud")
    on_old = map_group(server, DATA_SCIENCE_DN, "registered_model", "fraud", "EDIT")
    on_new = map_group(server, USERS_DN, "registered_model", "fraud-next")
    answer = rename(server, "fraud", "fraud-next")
    assert_refused_naming(answer, (DATA_SCIENCE_DN, on_old), (USERS_DN, on_new))

    unmap(server, on_old)
    # A mapping on the new name alone: the renamed model would start granting it.
    assert_refused_naming(rename(server, "fraud", "fraud-next"), (USERS_DN, on_new))
    assert read_model(server, "fraud").status_code == 200
    assert read_model(server, "fraud-next").status_code == 404
    assert read_model(server, "fraud", auth=JSMITH).status_code == 403
    unmap(server, on_new)


def test_a_rename_no_mapping_names_moves_per_user_grants_as_mlflow_does(server):
    create_model(server, "forecast")
    # A group mapping on another model and one on every model name neither name.
    elsewhere = map_group(server, DATA_SCIENCE_DN, "registered_model", "forecast-old")
    everything = map_group(server, DATA_SCIENCE_DN, "registered_model", "*")
    grant_jsmith(server, "forecast", "MANAGE")
    try:
        renamed = rename(server, "forecast", "forecast-2", auth=JSMITH)
        assert renamed.status_code == 200, renamed.text
        assert read_model(server, "forecast-2", auth=JSMITH).status_code == 200
        # jsmith's grant went with the model: a new one under the old name is not theirs.
        create_model(server, "forecast")
        assert rename(server, "forecast", "forecast-3", auth=JSMITH).status_code == 403
    finally:
        unmap(server, elsewhere)
        unmap(server, everything)


def test_a_user_who_may_change_the_model_learns_no_mapping_details(server):
    create_model(server, "pricing")
    mapping_id = map_group(server, DATA_SCIENCE_DN, "registered_model", "pricing")
    anonymous = rename(server, "pricing", "pricing-2", auth=None)
    assert anonymous.status_code == 401, anonymous.text
    assert "mapping" not in anonymous.text
    # alice reads it through her group; MLflow refuses her a rename before anything else.
    refused = rename(server, "pricing", "pricing-2", auth=ALICE)
    assert refused.status_code == 403, refused.text
    assert "mapping" not in refused.text
    grant_jsmith(server, "pricing", "EDIT")
    answer = rename(server, "pricing", "pricing-2", auth=JSMITH)
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert "group mappings" in message and "admin" in message, message
    assert DATA_SCIENCE_DN not in message and mapping_id not in message, message
    assert "ldap-group:" not in message, message
    assert read_model(server, "pricing").status_code == 200
    unmap(server, mapping_id)


def test_a_mapped_prompt_keeps_its_name_and_its_group(server):
    create_model(server, "summary-prompt", prompt=True)
    mapping_id = map_group(server, DATA_SCIENCE_DN, "prompt", "summary-prompt")
    assert_refused_naming(
        rename(server, "summary-prompt", "summary-prompt-v2"), (DATA_SCIENCE_DN, mapping_id)
    )
    assert read_model(server, "summary-prompt", auth=ALICE).status_code == 200

    unmap(server, mapping_id)
    renamed = rename(server, "summary-prompt", "summary-prompt-v2")
    assert renamed.status_code == 200, renamed.text
    create_model(server, "summary-prompt", prompt=True)
    assert read_model(server, "summary-prompt", auth=ALICE).status_code == 403


def test_a_case_only_rename_of_a_mapped_model_is_refused(server):
    create_model(server, "Retention")
    mapping_id = map_group(server, DATA_SCIENCE_DN, "registered_model", "Retention")
    assert_refused_naming(rename(server, "Retention", "retention"), (DATA_SCIENCE_DN, mapping_id))
    assert read_model(server, "Retention", auth=ALICE).status_code == 200
    unmap(server, mapping_id)


@pytest.fixture(scope="module")
def workspaces_server(slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        slapd,
        name="renames-ws",
        mlflow={"default_permission": "NO_PERMISSIONS"},
        workers=1,
        extra_args=["--enable-workspaces"],
    ) as running:
        yield running


def test_only_the_mappings_of_the_renames_workspace_hold_its_names(workspaces_server):
    server = workspaces_server
    for workspace in ("team-a", "team-b"):
        made = call(server, "POST", "/api/3.0/mlflow/workspaces", json={"name": workspace})
        assert made.status_code == 201, made.text
        created = call(
            server,
            "POST",
            MODELS + "/create",
            headers={"X-MLFLOW-WORKSPACE": workspace},
            json={"name": "churn"},
        )
        assert created.status_code == 200, created.text
    mapped = call(
        server,
        "POST",
        MAPPINGS,
        json={
            "group": DATA_SCIENCE_DN,
            "resource_type": "registered_model",
            "resource_pattern": "churn",
            "permission": "READ",
            "workspace": "team-a",
        },
    )
    assert mapped.status_code == 200, mapped.text
    mapping_id = mapped.json()["group_mapping"]["id"]

    def rename_in(workspace):
        return call(
            server,
            "POST",
            RENAME,
            headers={"X-MLFLOW-WORKSPACE": workspace},
            json={"name": "churn", "new_name": "churn-v2"},
        )

    assert_refused_naming(rename_in("team-a"), (DATA_SCIENCE_DN, mapping_id))
    renamed = rename_in("team-b")
    assert renamed.status_code == 200, renamed.text


PREFIX = "/mlflow"


@pytest.fixture(scope="module")
def prefixed_server(slapd, tmp_path_factory):
    running = start_server(
        tmp_path_factory,
        slapd,
        name="renames-prefixed",
        extra_args=["--static-prefix", PREFIX],
        ready=False,
    )
    with running:

        def healthy() -> bool:
            if running.process.poll() is not None:
                raise AssertionError(f"mlflow server exited:\n{running.log()}")
            try:
                answer = requests.get(running.url + PREFIX + "/health", timeout=1)
            except requests.RequestException:
                return False
            return answer.status_code == 200

        wait_until(healthy, f"mlflow server not healthy at {PREFIX}/health", timeout=START_SECONDS)
        yield running


def test_under_a_static_prefix_the_renames_routes_move_and_are_guarded(prefixed_server):
    server = prefixed_server
    create_model(server, "churn", prefix=PREFIX)
    mapping_id = map_group(server, DATA_SCIENCE_DN, "registered_model", "churn", prefix=PREFIX)
    for path in (RENAME, AJAX_RENAME):
        answer = rename(server, "churn", "churn-v2", path=PREFIX + path)
        assert_refused_naming(answer, (DATA_SCIENCE_DN, mapping_id))
    assert read_model(server, "churn", prefix=PREFIX).status_code == 200
