"""A mapping on experiment "002" grants experiment 2, or is refused: never 200-and-nothing.

Real slapd, real ``mlflow server --app-name ldap-auth`` (MLflow enforcing the grant),
the REST API, the mappings file on the command line, who has access and its preview,
and a grant stored the old way that the upgrade's migration makes work.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from mlflow_ldap_auth.db import tables
from servers import (
    CAROL,
    DATA_SCIENCE_DN,
    PASSWORDS,
    MlflowServer,
    flush_caches,
    ldap_config,
    run_cli,
    start_server,
)

API = "/api/2.0/mlflow/ldap-auth"
ALICE = ("alice", PASSWORDS["alice"])  # a member of data-science
NO_ACCESS = {"default_permission": "NO_PERMISSIONS"}


def create_experiments(server, *names) -> dict[str, str]:
    ids = {}
    for name in names:
        response = requests.post(
            server.url + "/api/2.0/mlflow/experiments/create",
            json={"name": name},
            auth=CAROL,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        ids[name] = response.json()["experiment_id"]
    return ids


def read_experiment(server, experiment_id: str, auth=ALICE) -> int:
    response = requests.get(
        server.url + "/api/2.0/mlflow/experiments/get",
        params={"experiment_id": experiment_id},
        auth=auth,
        timeout=30,
    )
    return response.status_code


def listed(server) -> list[dict]:
    response = requests.get(server.url + API + "/group-mappings", auth=CAROL, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["group_mappings"]


def add_mapping(server, pattern: str, permission: str = "READ") -> requests.Response:
    return requests.post(
        server.url + API + "/group-mappings",
        json={
            "group": DATA_SCIENCE_DN,
            "resource_type": "experiment",
            "resource_pattern": pattern,
            "permission": permission,
        },
        auth=CAROL,
        timeout=30,
    )


def who_has_access(server, resource: str) -> requests.Response:
    return requests.get(
        server.url + API + "/access",
        params={"resource_type": "experiment", "resource": resource},
        auth=CAROL,
        timeout=30,
    )


def mapped_groups(answer: dict) -> list[tuple[str, str]]:
    """(group, permission) of the group mappings on a who-has-access answer."""
    return [(g["group"], g["permission"]) for g in answer["groups"] if g["kind"] == "group_mapping"]


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(tmp_path_factory, slapd, name="expids", mlflow=NO_ACCESS) as running:
        yield running


@pytest.fixture(scope="module")
def experiments(server):
    """Experiments 1 and 2 (0 is MLflow's default experiment)."""
    ids = create_experiments(server, "exp-one", "exp-two")
    assert ids == {"exp-one": "1", "exp-two": "2"}
    return ids


@pytest.fixture(autouse=True)
def no_mappings(server, experiments):
    """Each test starts without group mappings (and without cached permissions)."""
    for mapping in listed(server):
        response = requests.delete(
            f"{server.url}{API}/group-mappings/{mapping['id']}", auth=CAROL, timeout=30
        )
        assert response.status_code == 200, response.text
    flush_caches(server)


@pytest.mark.parametrize("spelling", ["002", "+2", " 02 "])
def test_a_mapping_on_a_padded_id_is_stored_canonical_and_grants_the_experiment(server, spelling):
    assert read_experiment(server, "2") == 403  # nothing grants it yet
    response = add_mapping(server, spelling)
    assert response.status_code == 200, response.text
    assert response.json()["group_mapping"]["resource_pattern"] == "2"
    assert [m["resource_pattern"] for m in listed(server)] == ["2"]
    flush_caches(server)
    assert read_experiment(server, "2") == 200
    assert read_experiment(server, "1") == 403
    again = add_mapping(server, "2")  # the same mapping, however it is spelled
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS", again.text


@pytest.mark.parametrize(
    "spelling", ["2.0", "0x2", "-2", "\uff12", "1_0", "exp-two", "99999999999999999999"]
)
def test_a_pattern_that_is_no_experiment_id_is_refused(server, spelling):
    response = add_mapping(server, spelling)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "experiment id" in response.json()["message"]
    assert listed(server) == []


def test_who_has_access_to_experiment_2_names_the_group_of_a_padded_mapping(server):
    assert add_mapping(server, "002").status_code == 200
    for spelling in ("2", "02"):
        response = who_has_access(server, spelling)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["resource"]["id"] == "2"
        assert mapped_groups(answer) == [(DATA_SCIENCE_DN, "READ")]
        people = {entry["user"]: entry["permission"] for entry in answer["entries"]}
        assert people["alice"] == "READ"


def mappings_file(tmp_path, pattern: str):
    path = tmp_path / "mappings.json"
    entry = {
        "group": DATA_SCIENCE_DN,
        "resource_type": "experiment",
        "resource_pattern": pattern,
        "permission": "READ",
    }
    path.write_text(json.dumps({"version": 1, "group_mappings": [entry]}))
    return path


def test_a_mappings_file_entry_on_a_padded_id_previews_and_grants_experiment_2(server, tmp_path):
    path = mappings_file(tmp_path, "002")
    dry = run_cli(server.config_path, "mappings", "import", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ " in dry.stdout and "'2' in workspace 'default'" in dry.stdout
    assert "experiment 2 in workspace default:" in dry.stdout
    assert "alice: NO_PERMISSIONS (no route) -> READ (gains)" in dry.stdout
    applied = run_cli(server.config_path, "mappings", "import", str(path))
    assert applied.returncode == 0, applied.stderr
    assert [m["resource_pattern"] for m in listed(server)] == ["2"]
    again = run_cli(server.config_path, "mappings", "import", str(path))
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout  # "002" in the file is the stored "2"
    flush_caches(server)
    assert read_experiment(server, "2") == 200


def test_a_mappings_file_entry_that_is_no_experiment_id_is_refused(server, tmp_path):
    refused = run_cli(server.config_path, "mappings", "import", str(mappings_file(tmp_path, "2.0")))
    assert refused.returncode == 1
    assert "group_mappings[0]:" in refused.stderr and "experiment id" in refused.stderr
    assert listed(server) == []


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database that a running server has open."""
    with (
        contextlib.closing(sqlite3.connect(source)) as original,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        original.backup(copy)


def test_a_grant_stored_the_old_way_grants_after_the_upgrade(server, slapd, tmp_path):
    """The plugin stored "002" as typed; the upgrade's migration rewrites it to "2".

    The databases before the upgrade are copies of the module's server's (experiments 1
    and 2 and the mapping made here), with its settings: the upgrade is the one server
    this test starts."""
    created = add_mapping(server, "2")
    assert created.status_code == 200, created.text
    mapping_id = created.json()["group_mapping"]["id"]
    for name in ("auth.db", "mlflow.db"):
        copy_database(server.directory / name, tmp_path / name)
    config = ldap_config(tmp_path, slapd.ldap_uri, NO_ACCESS)
    database = tables.create_engine(f"sqlite:///{tmp_path}/auth.db")
    with database.begin() as connection:
        # The plugin's schema as it was before the upgrade (the later revisions' tables
        # gone too), then what the old code wrote for "002".
        migrations = Config()
        migrations.set_main_option("script_location", str(tables.MIGRATIONS_DIR))
        migrations.attributes["connection"] = connection
        command.downgrade(migrations, "0006_token_owners")
        changed = connection.execute(
            sa.text("UPDATE role_permissions SET resource_pattern = '002' WHERE id = :id"),
            {"id": int(mapping_id.removeprefix("grant-"))},
        )
        assert changed.rowcount == 1
    database.dispose()
    with MlflowServer(config, directory=tmp_path) as upgraded:
        assert [(m["id"], m["resource_pattern"]) for m in listed(upgraded)] == [(mapping_id, "2")]
        assert read_experiment(upgraded, "2") == 200
        assert read_experiment(upgraded, "1") == 403
        answer = who_has_access(upgraded, "2").json()
        assert mapped_groups(answer) == [(DATA_SCIENCE_DN, "READ")]


def test_the_upgrade_rewrites_old_grants_on_postgresql(postgres):
    """The migration's statements on PostgreSQL: rewrite, merge (DENY stays), and a role
    made in MLflow left alone."""
    from mlflow.server.auth.db import models

    engine = tables.create_engine(postgres.create_database("expids"))
    models.Base.metadata.create_all(engine)
    managed = "ldap-group:921fc892-85f9-1041-9eee-1b88ea23764b"
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO roles (id, name, workspace) VALUES (:id, :name, 'default')"),
            [{"id": 1, "name": managed}, {"id": 2, "name": "team-leads"}],
        )
        connection.execute(
            sa.text(
                "INSERT INTO role_permissions (id, role_id, resource_type, resource_pattern,"
                " permission) VALUES (:id, :role, 'experiment', :pattern, :permission)"
            ),
            [
                {"id": 10, "role": 1, "pattern": "002", "permission": "READ"},
                {"id": 11, "role": 1, "pattern": "7", "permission": "EDIT"},
                {"id": 12, "role": 1, "pattern": "007", "permission": "DENY"},
                {"id": 13, "role": 2, "pattern": "002", "permission": "READ"},
            ],
        )
    tables.migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, resource_pattern, permission FROM role_permissions ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        (10, "2", "READ"),
        (12, "7", "DENY"),
        (13, "002", "READ"),  # a role made in MLflow
    ]


def test_the_admin_form_saves_a_padded_id_as_the_experiment_it_names(browser, server):
    from playwright.sync_api import expect

    from browser import basic_auth, patient

    credentials = {"username": CAROL[0], "password": CAROL[1]}
    context = patient(
        browser.new_context(extra_http_headers=basic_auth(credentials), base_url=server.url)
    )
    page = context.new_page()
    try:

        def submit(pattern: str) -> None:
            page.goto("/ldap-admin/mappings/new")
            page.get_by_label("Group DN").fill(DATA_SCIENCE_DN)
            page.get_by_label("Resource type").select_option("experiment")
            page.get_by_label("Resource pattern").fill(pattern)
            page.get_by_label("Permission").select_option("READ")
            page.get_by_role("button", name="Add mapping").click()

        submit("\uff12")
        expect(page.locator("#resource_pattern-error")).to_contain_text("experiment id")
        submit("002")
        expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
        expect(page.locator("dd", has_text="on experiment")).to_contain_text("2 · exp-two")
        expect(page.locator(".preview")).to_contain_text("alice")
        page.get_by_role("button", name="Save mapping").click()
        expect(page.get_by_role("status")).to_contain_text("READ on experiment 2")
    finally:
        context.close()
    assert [m["resource_pattern"] for m in listed(server)] == ["2"]
    flush_caches(server)
    assert read_experiment(server, "2") == 200
