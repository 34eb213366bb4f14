"""Two `mlflow server --app-name ldap-auth` processes sharing one PostgreSQL database."""

import pytest

from servers import CAROL, DATA_SCIENCE_DN, GROUPS_DN, client_as, flush_caches, start_server

PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"


@pytest.fixture(scope="module")
def two_servers(postgres, slapd, tmp_path_factory):
    auth_db = postgres.create_database("mlflow_auth")
    tracking_db = postgres.create_database("mlflow_tracking")
    with start_server(
        tmp_path_factory,
        slapd,
        name="pg-first",
        mlflow={"default_permission": "NO_PERMISSIONS", "database_uri": auth_db},
        backend_store_uri=tracking_db,
    ) as first:
        with start_server(
            tmp_path_factory,
            config=first.config_path,  # one config, one auth database, one tracking store
            name="pg-second",
            backend_store_uri=tracking_db,
        ) as second:
            yield first, second


def names(server, user, password):
    with client_as(server, user, password) as client:
        return {e.name for e in client.search_experiments()}


def test_a_mapping_made_through_either_server_is_enforced_by_both(two_servers):
    first, second = two_servers
    with client_as(first, *CAROL) as on_first, client_as(second, *CAROL) as on_second:
        shared = on_first.create_experiment("shared-exp")
        other = on_second.create_experiment("other-exp")
    with client_as(first, *CAROL, app=True) as admin:
        admin.create_group_mapping(
            group=DATA_SCIENCE_DN, permission="READ", resource_pattern=shared
        )
    assert names(first, "alice", "alice-password") == {"shared-exp"}
    assert names(second, "alice", "alice-password") == {"shared-exp"}

    with client_as(second, *CAROL, app=True) as admin:
        admin.create_group_mapping(group=DATA_SCIENCE_DN, permission="READ", resource_pattern=other)
    # alice is logged in on the first server: its caches hold her old grants until the
    # TTLs pass or an admin flushes them there.
    for server in (first, second):
        flush_caches(server)
    assert names(first, "alice", "alice-password") == {"shared-exp", "other-exp"}
    assert names(second, "alice", "alice-password") == {"shared-exp", "other-exp"}
    with client_as(first, *CAROL, app=True) as admin:
        listed_first = admin.list_group_mappings()
    with client_as(second, *CAROL, app=True) as admin:
        listed_second = admin.list_group_mappings()
    assert listed_first == listed_second
    assert len(listed_first) == 2
