"""The password-spraying guard's counter, on real SQLite and PostgreSQL databases."""

import threading
import uuid

import pytest

from mlflow_ldap_auth.auth.lockout import AttemptStore, LockoutGuard, LockoutPolicy
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import InvalidCredentials


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path}/lockout.db"
    else:
        name = f"lockout_{uuid.uuid4().hex[:12]}"
        uri = request.getfixturevalue("postgres").create_database(name)
    engine = tables.create_engine(uri)
    tables.migrate(engine)
    yield engine
    engine.dispose()


def refused_bind(guard, account):
    with guard.attempt(account) as attempt:
        attempt.refused = True


def test_policy_stays_below_the_directorys_own():
    ours = LockoutPolicy(3, 900)
    assert ours.below(None, None) == ours  # OpenLDAP: nothing to stay below
    assert ours.below(10, 600) == ours
    assert ours.below(3, 1800) == LockoutPolicy(2, 1800)
    assert ours.below(1, 60) == LockoutPolicy(1, 900)  # never 0: that would switch it off
    assert LockoutPolicy(0, 900).below(3, 600) == LockoutPolicy(0, 900)


def test_refused_binds_keep_their_slot_until_the_window_passes(engine):
    clock = Clock()
    guard = LockoutGuard(LockoutPolicy(3, 900), AttemptStore(engine), clock=clock)
    for _ in range(3):
        refused_bind(guard, "alice")
    with pytest.raises(InvalidCredentials) as throttled:
        refused_bind(guard, "alice")
    assert throttled.value.reason == "throttled"
    refused_bind(guard, "bob")  # another account has its own budget
    clock.now += 901
    refused_bind(guard, "alice")  # the window moved on


def test_successful_and_unanswered_binds_give_their_slot_back(engine):
    guard = LockoutGuard(LockoutPolicy(2, 900), AttemptStore(engine), clock=Clock())
    for _ in range(10):
        with guard.attempt("carol"):
            pass  # the bind succeeded
    for _ in range(10):
        with pytest.raises(RuntimeError), guard.attempt("carol"):
            raise RuntimeError("no answer")  # directory down: not a failed bind
    refused_bind(guard, "carol")
    refused_bind(guard, "carol")
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "carol")


def test_concurrent_attempts_never_exceed_the_threshold(engine):
    """Two workers racing for the last slot: the guard row serializes them."""
    store = AttemptStore(engine)
    policy = LockoutPolicy(3, 900)
    barrier = threading.Barrier(24)
    granted = []
    lock = threading.Lock()

    def race():
        barrier.wait()
        slot, _ = store.reserve("dave", 5_000_000, policy)
        with lock:
            granted.append(slot)

    threads = [threading.Thread(target=race) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([slot for slot in granted if slot is not None]) == 3


def test_a_throttled_account_is_answered_from_memory(engine):
    clock = Clock()
    store = AttemptStore(engine)
    guard = LockoutGuard(LockoutPolicy(1, 60), store, clock=clock)
    refused_bind(guard, "erin")
    calls = []
    original = store.reserve
    store.reserve = lambda *args: calls.append(args) or original(*args)
    for _ in range(50):
        with pytest.raises(InvalidCredentials):
            refused_bind(guard, "erin")
    assert len(calls) == 1  # the database was asked once, then memory answered
    clock.now += 61
    refused_bind(guard, "erin")


def test_the_domain_policy_is_read_once(engine):
    reads = []

    def domain_policy():
        reads.append(1)
        return 3, 1800

    guard = LockoutGuard(LockoutPolicy(3, 900), AttemptStore(engine), domain_policy, Clock())
    for _ in range(2):
        refused_bind(guard, "frank")
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "frank")  # 2, one below the domain's 3
    assert guard.policy() == LockoutPolicy(2, 1800)
    assert reads == [1]
