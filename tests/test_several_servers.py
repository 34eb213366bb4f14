"""Two `mlflow server --app-name ldap-auth` processes sharing one PostgreSQL database."""

import pytest
import requests
from mlflow import MlflowClient
from mlflow.server import get_app_client

from postgres import PostgresInstance
from servers import DATA_SCIENCE_DN, GROUPS_DN, MlflowServer, ldap_config

API = "/api/2.0/mlflow/ldap-auth"
PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"


@pytest.fixture(scope="module")
def postgres():
    instance = PostgresInstance().start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def two_servers(postgres, slapd, tmp_path_factory):
    auth_db = postgres.create_database("mlflow_auth")
    tracking_db = postgres.create_database("mlflow_tracking")
    config = ldap_config(
        tmp_path_factory.mktemp("pg"),
        slapd.ldap_uri,
        mlflow={"default_permission": "NO_PERMISSIONS", "database_uri": auth_db},
    )
    first = MlflowServer(config, backend_store_uri=tracking_db).start()
    second = MlflowServer(config, backend_store_uri=tracking_db).start()
    yield first, second
    first.stop()
    second.stop()


def as_user(monkeypatch, user, password):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def names(server, monkeypatch, user, password):
    as_user(monkeypatch, user, password)
    return {e.name for e in MlflowClient(tracking_uri=server.url).search_experiments()}


def test_a_mapping_made_through_either_server_is_enforced_by_both(two_servers, monkeypatch):
    first, second = two_servers
    as_user(monkeypatch, "carol", "carol-password")
    shared = MlflowClient(tracking_uri=first.url).create_experiment("shared-exp")
    other = MlflowClient(tracking_uri=second.url).create_experiment("other-exp")
    get_app_client("ldap-auth", tracking_uri=first.url).create_group_mapping(
        group=DATA_SCIENCE_DN, permission="READ", resource_pattern=shared
    )
    assert names(first, monkeypatch, "alice", "alice-password") == {"shared-exp"}
    assert names(second, monkeypatch, "alice", "alice-password") == {"shared-exp"}

    as_user(monkeypatch, "carol", "carol-password")
    get_app_client("ldap-auth", tracking_uri=second.url).create_group_mapping(
        group=DATA_SCIENCE_DN, permission="READ", resource_pattern=other
    )
    # alice is logged in on the first server: its caches hold her old grants until the
    # TTLs pass or an admin flushes them there.
    for server in (first, second):
        flushed = requests.post(
            server.url + API + "/cache/flush", auth=("carol", "carol-password"), timeout=30
        )
        assert flushed.status_code == 200
    assert names(first, monkeypatch, "alice", "alice-password") == {"shared-exp", "other-exp"}
    assert names(second, monkeypatch, "alice", "alice-password") == {"shared-exp", "other-exp"}
    as_user(monkeypatch, "carol", "carol-password")
    listed_first = get_app_client("ldap-auth", tracking_uri=first.url).list_group_mappings()
    listed_second = get_app_client("ldap-auth", tracking_uri=second.url).list_group_mappings()
    assert listed_first == listed_second
    assert len(listed_first) == 2
