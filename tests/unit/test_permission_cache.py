"""The read cache in front of MLflow's auth store: pure logic with a counting store."""

import threading

import pytest

from mlflow_ldap_auth.mlflow_compat.permission_cache import PermissionCache


class FakeStore:
    def __init__(self):
        self.reads = 0
        self.password_checks = 0
        self.admin = False
        self.fail = False

    def get_user(self, username):
        self.reads += 1
        if self.fail:
            raise LookupError(username)
        return (username, self.admin)

    def list_grants(self, user_id, workspace, resource_types):
        self.reads += 1
        return [(user_id, workspace, sorted(resource_types))]

    def update_user(self, username, is_admin=None):
        self.admin = is_admin

    def authenticate_user(self, username, password):
        self.password_checks += 1
        return password == "right"


@pytest.fixture
def store():
    store = FakeStore()
    PermissionCache(ttl_seconds=60).install(store)
    return store


def test_reads_are_remembered(store):
    for _ in range(5):
        assert store.get_user("alice") == ("alice", False)
        store.list_grants(1, "default", {"experiment"})
    assert store.reads == 2


def test_a_write_through_this_worker_is_seen_at_once(store):
    assert store.get_user("alice") == ("alice", False)
    store.update_user("alice", is_admin=True)
    assert store.get_user("alice") == ("alice", True)


def test_password_checks_and_errors_are_never_cached(store):
    store.authenticate_user("alice", "right")
    store.authenticate_user("alice", "right")
    assert store.password_checks == 2
    store.fail = True
    for _ in range(2):
        with pytest.raises(LookupError):
            store.get_user("bob")
    assert store.reads == 2


def test_workspace_is_part_of_the_key():
    store = FakeStore()
    current = {"name": "a"}
    PermissionCache(ttl_seconds=60, workspace=lambda: current["name"]).install(store)
    store.get_user("alice")
    current["name"] = "b"
    store.get_user("alice")
    assert store.reads == 2


def test_a_read_racing_a_write_does_not_store_the_stale_answer():
    store = FakeStore()
    cache = PermissionCache(ttl_seconds=60)
    entered, release = threading.Event(), threading.Event()
    original = store.get_user

    def slow_get_user(username):
        value = original(username)  # reads admin=False
        entered.set()
        release.wait(5)
        return value

    store.get_user = slow_get_user
    cache.install(store)
    reader = threading.Thread(target=store.get_user, args=("alice",))
    reader.start()
    entered.wait(5)
    store.update_user("alice", is_admin=True)  # clears while the read is in flight
    release.set()
    reader.join()
    assert store.get_user("alice") == ("alice", True)


@pytest.mark.parametrize(
    "value",
    [
        ("exp-1", "alice"),
        (),
        {"experiment_id": "1", "username": "alice", "workspace": None},
        {},
        ("1", 2, 3.0, True, None),
        ({"b": [1, 2]}, {3}),
        {"ids": ["1", "2"], "name": "x"},
    ],
)
def test_the_key_of_plain_arguments_is_the_one_the_general_rule_gives(value):
    from mlflow_ldap_auth.mlflow_compat.permission_cache import _freeze

    def general(v):
        if isinstance(v, (set, frozenset)):
            return frozenset(general(x) for x in v)
        if isinstance(v, (list, tuple)):
            return tuple(general(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, general(x)) for k, x in v.items()))
        return v

    assert _freeze(value) == general(value)
    assert hash(_freeze(value)) == hash(general(value))
