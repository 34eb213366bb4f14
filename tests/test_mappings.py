"""Group mappings end to end: real slapd, real server, MLflow's own client enforcing them."""

import contextlib
import json

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
    client_as,
    entry_exists,
    flush_caches,
    run_cli,
    start_server,
)

PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"
API = "/api/2.0/mlflow/ldap-auth"


@pytest.fixture(scope="module")
def directory():
    """A slapd of this module's own: these tests rename groups and change members."""
    with SlapdInstance() as instance:
        yield instance


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        directory,
        name="mappings",
        mlflow={"default_permission": "NO_PERMISSIONS"},
        workers=1,
    ) as running:
        yield running


def user_client(server, user):
    """An MlflowClient for ``user`` (a ``with`` block)."""
    return client_as(server, user, PASSWORDS.get(user, ADMIN_PASSWORD))


@contextlib.contextmanager
def admin_client(server):
    """The ldap-auth client as carol, a directory admin (a ``with`` block)."""
    with client_as(server, *CAROL, app=True) as client:
        yield client


def visible(server, user) -> set[str]:
    with user_client(server, user) as client:
        return {e.name for e in client.search_experiments()}


def can_log_run(server, user, experiment_id) -> bool:
    with user_client(server, user) as client:
        try:
            run = client.create_run(experiment_id)
        except MlflowException as exc:
            assert "403" in str(exc) or "PERMISSION_DENIED" in str(exc) or "denied" in str(exc)
            return False
        client.log_metric(run.info.run_id, "m", 1.0)
    return True


def mapped_groups(server) -> set[str]:
    with admin_client(server) as client:
        return {m["group"] for m in client.list_group_mappings()}


@pytest.fixture(scope="module")
def experiments(server):
    ids = {}
    for name in ("ds-exp", "platform-exp", "secret-exp"):
        response = requests.post(
            server.url + "/api/2.0/mlflow/experiments/create",
            json={"name": name},
            auth=CAROL,
            timeout=30,
        )
        ids[name] = response.json()["experiment_id"]
    return ids


@pytest.fixture(scope="module")
def base_mappings(server, experiments):
    """data-science may EDIT ds-exp; ml-platform may READ platform-exp."""
    auth = CAROL
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
    flush_caches(server)
    return created


def test_groups_see_different_experiments_and_may_or_may_not_log_runs(
    server, experiments, base_mappings
):
    assert visible(server, "alice") == {"ds-exp"}
    # bob is in ml-platform, which is nested in data-science: both grants apply.
    assert visible(server, "bob") == {"ds-exp", "platform-exp"}
    assert visible(server, "jsmith") == set()
    assert can_log_run(server, "alice", experiments["ds-exp"])
    assert not can_log_run(server, "alice", experiments["platform-exp"])
    assert can_log_run(server, "bob", experiments["ds-exp"])  # nested grant
    assert not can_log_run(server, "bob", experiments["platform-exp"])  # READ only
    assert not can_log_run(server, "jsmith", experiments["ds-exp"])


def test_mappings_are_mlflow_roles_and_listed_with_current_dn(server, base_mappings):
    with admin_client(server) as client:
        listed = client.list_group_mappings()
        roles = {role.name for role in client.list_all_roles()}
    ids = {m["id"] for m in listed}
    assert {m["id"] for m in base_mappings} <= ids
    mapping = next(m for m in listed if m["id"] == base_mappings[0]["id"])
    assert mapping["group"] == DATA_SCIENCE_DN and mapping["group_uuid"]
    assert f"ldap-group:{mapping['group_uuid']}" in roles


def test_deny_beats_a_grant(server, experiments, base_mappings):
    with admin_client(server) as client:
        deny = client.create_group_mapping(
            group=USERS_DN,
            permission="DENY",
            resource_type="experiment",
            resource_pattern=experiments["ds-exp"],
        )
    try:
        flush_caches(server)
        assert "ds-exp" not in visible(server, "alice")
        assert not can_log_run(server, "alice", experiments["ds-exp"])
    finally:
        with admin_client(server) as client:
            client.delete_group_mapping(deny["id"])
        flush_caches(server)
    assert "ds-exp" in visible(server, "alice")


def test_lookup_user_explains_access(server, base_mappings):
    with admin_client(server) as client:
        info = client.lookup_user("bob")
        carol = client.lookup_user("carol")
    assert info["dn"] == "uid=bob,ou=people,dc=example,dc=org"
    assert DATA_SCIENCE_DN in info["groups"]["nested"]
    assert PLATFORM_DN in info["groups"]["direct"]
    assert {"group": DATA_SCIENCE_DN, "via": PLATFORM_DN} in info["nesting"]
    assert info["admin"] is False
    assert {p["permission"] for p in info["permissions"]} == {"EDIT", "READ"}
    assert carol["admin"] is True


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
    auth = CAROL
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


def test_status_reports_servers_and_caches(server):
    with admin_client(server) as client:
        status = client.status()
    assert status["servers"][0]["reachable"] is True
    assert status["service_bind"]["ok"] is True
    assert {"size", "hits", "misses", "hit_ratio"} <= set(status["cache"])
    # This worker's activity recorder: at least the logins of this module were written.
    assert status["activity"]["written"] + status["activity"]["queued"] >= 1
    assert status["activity"]["dropped"] == 0


def test_admin_mapping_makes_members_admins(server, directory):
    def alice_reads_carol() -> int:
        # Reading another user's record is for admins only in MLflow.
        return requests.get(
            server.url + "/api/2.0/mlflow/users/get?username=carol",
            auth=("alice", "alice-password"),
            timeout=30,
        ).status_code

    assert alice_reads_carol() == 403
    with admin_client(server) as client:
        admin = client.create_group_mapping(
            group=DATA_SCIENCE_DN, permission="MANAGE", resource_type="admin"
        )
    try:
        flush_caches(server)
        assert alice_reads_carol() == 200
    finally:
        with admin_client(server) as client:
            client.delete_group_mapping(admin["id"])
        flush_caches(server)
    assert alice_reads_carol() == 403


def test_removed_from_group_loses_access_after_flush(server, directory, experiments, base_mappings):
    assert "ds-exp" in visible(server, "alice")
    directory.ldif(
        "ldapmodify",
        f"dn: {DATA_SCIENCE_DN}\nchangetype: modify\ndelete: member\n"
        "member: uid=alice,ou=people,dc=example,dc=org\n",
    )
    try:
        assert "ds-exp" in visible(server, "alice")  # cached until TTL / flush
        flush_caches(server)
        assert "ds-exp" not in visible(server, "alice")
    finally:
        directory.ldif(
            "ldapmodify",
            f"dn: {DATA_SCIENCE_DN}\nchangetype: modify\nadd: member\n"
            "member: uid=alice,ou=people,dc=example,dc=org\n",
        )
        flush_caches(server)
    assert "ds-exp" in visible(server, "alice")


def test_renamed_group_keeps_its_mapping(server, directory, experiments, base_mappings):
    renamed = f"cn=ml-platform-renamed,{GROUPS_DN}"
    directory.ldif("ldapmodrdn", f"{PLATFORM_DN}\ncn=ml-platform-renamed\n")
    try:
        flush_caches(server)
        # bob is in the renamed group; the mapping follows it by entryUUID.
        assert "platform-exp" in visible(server, "bob")
        groups = mapped_groups(server)
        assert renamed in groups and PLATFORM_DN not in groups
    finally:
        directory.ldif("ldapmodrdn", f"{renamed}\ncn=ml-platform\n")
        flush_caches(server)
    # The directory has the group under its old name again: one listing must follow it.
    assert entry_exists(directory, PLATFORM_DN) and not entry_exists(directory, renamed)
    groups = mapped_groups(server)
    assert PLATFORM_DN in groups and renamed not in groups


def mappings_cli(config, *args):
    return run_cli(config, "mappings", *args)


def test_export_import_round_trip_dry_run_and_idempotence(
    server, directory, base_mappings, experiments, tmp_path
):
    config = server.config_path
    exported = mappings_cli(config, "export")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert {m["permission"] for m in document["group_mappings"]} >= {"EDIT", "READ"}
    file = tmp_path / "m.json"
    file.write_text(exported.stdout)
    same = mappings_cli(config, "import", str(file))
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
    before = exported.stdout  # the import of it changed nothing
    dry = mappings_cli(config, "import", str(file), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ " + USERS_DN in dry.stdout and "- " + DATA_SCIENCE_DN in dry.stdout
    assert mappings_cli(config, "export").stdout == before  # dry run changed nothing
    try:
        applied = mappings_cli(config, "import", str(file))
        assert applied.returncode == 0, applied.stderr
        assert "1 added, 1 removed" in applied.stdout
        again = mappings_cli(config, "import", str(file))
        assert "no changes" in again.stdout  # idempotent
    finally:
        file.write_text(before)
        restored = mappings_cli(config, "import", str(file))
        assert restored.returncode == 0, restored.stderr


def test_import_with_a_bad_entry_changes_nothing(server, tmp_path):
    config = server.config_path
    before = mappings_cli(config, "export").stdout
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
    result = mappings_cli(config, "import", str(file))
    assert result.returncode == 1
    assert "ghost" in result.stderr
    assert mappings_cli(config, "export").stdout == before
