"""The password-spraying guard: its counter on real SQLite and PostgreSQL databases, and
a real ``mlflow server`` spraying a real slapd with the ppolicy overlay (an account
locks after ``POLICY_MAX_FAILURE`` wrong passwords there, until an administrator
unlocks it). With them, the other writes a login makes alone in autocommit
(``db.autocommit``): the check record, and what happens to them when the database
ends every connection."""

import subprocess
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from mlflow_ldap_auth.auth.accounts import AccountStore
from mlflow_ldap_auth.auth.lockout import (
    KEPT_FAILURES_SECONDS,
    MAX_ACCOUNTS,
    OVERFLOW_ACCOUNT,
    AttemptStore,
    LockoutGuard,
    LockoutPolicy,
)
from mlflow_ldap_auth.auth.user_checks import CheckRecord, UserChecks
from mlflow_ldap_auth.db import autocommit, tables
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap.lockout_policies import UNREADABLE_THRESHOLD, DirectoryLockout
from postgres import other_connections
from servers import (
    PEOPLE_DN,
    SERVICE_DN,
    SlapdInstance,
    add_person,
    basic_header,
    slapd_barrier,
    slapd_count,
    start_server,
    wait_for_audit,
)
from slapd_instance import POLICY_MAX_FAILURE, RELAXED_MAX_FAILURE, RELAXED_POLICY_DN


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


def refused_bind(guard, account, lockout=None):
    with guard.attempt(account, lockout) as attempt:
        attempt.refused = True


def rows(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def locks(threshold, window):
    return DirectoryLockout(threshold, window, "test policy")


def test_policy_stays_below_the_directorys_own():
    ours = LockoutPolicy(3, 900)
    assert ours.below(None) == ours  # a directory that locks nobody
    assert ours.below(locks(10, 600)) == ours
    assert ours.below(locks(10, 3600)) == LockoutPolicy(3, 3600)  # its longer window
    assert ours.below(locks(3, 1800)) == LockoutPolicy(2, 1800)
    assert ours.below(locks(1, 60)) == LockoutPolicy(1, 900)  # never 0: that switches it off
    assert LockoutPolicy(0, 900).below(locks(3, 600)) == LockoutPolicy(0, 900)
    # Failures kept until a successful bind (ppolicy pwdFailureCountInterval 0)
    assert ours.below(locks(5, None)) == LockoutPolicy(3, KEPT_FAILURES_SECONDS, True)


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


def test_slots_are_given_back_after_the_database_ended_every_connection(postgres):
    """A slot is taken and given back, and a login's one-row reads are made, on an engine
    of their own without a ping (``db.autocommit``). PostgreSQL ends every connection (a
    restart, a failover): the first slot is taken through the plugin's engine, which
    reconnects, and everything after it on new connections of their own."""
    uri = postgres.create_database(f"lockout_{uuid.uuid4().hex[:12]}")
    engine, killer = tables.create_engine(uri), tables.create_engine(uri)
    tables.migrate(engine)
    guard = LockoutGuard(LockoutPolicy(2, 900), AttemptStore(engine), clock=Clock())
    accounts = AccountStore(engine)
    for _ in range(3):
        with guard.attempt("carol"):
            assert accounts.is_known("carol") is False
    assert autocommit.of(engine).alone.pool.checkedin() >= 1
    with killer.connect() as connection:
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and other_connections(killer):
        time.sleep(0.05)
    assert other_connections(killer) == 0
    taken: list = []
    sa.event.listen(engine, "checkout", lambda *_: taken.append(1))
    for _ in range(3):  # more than the threshold: every slot is given back
        with guard.attempt("carol"):
            pass
    assert rows(engine, tables.login_attempts) == 0
    assert len(taken) == 1 + 1  # the first slot taken; counting
    assert accounts.is_known("carol") is False  # on the autocommit engine again
    assert len(taken) == 2
    engine.dispose()
    killer.dispose()


def test_a_logins_check_record_is_one_row_and_releases_the_claim(engine):
    """Its update, and its insert when there was none, each alone: logins of one user
    at the same moment on several workers leave one row, and a login releases a claim."""
    checks = UserChecks(engine)
    checks.record("alice", "ok", "m1", 100)
    assert checks.get("alice") == CheckRecord("alice", 100, "ok", "m1")
    assert checks.claim_many(["alice"], 200, due_before=150) == ["alice"]
    checks.record("alice", "ok", "m2", 200)
    row = checks.get("alice")
    assert row == CheckRecord("alice", 200, "ok", "m2") and row.claimed_until == 0
    start = threading.Barrier(8)

    def login() -> None:
        start.wait()
        checks.record("bob", "ok", None, 300)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert checks.get("bob") == CheckRecord("bob", 300, "ok", None)
    assert rows(engine, tables.user_checks) == 2


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


def test_each_account_stays_below_its_own_directory_policy(engine):
    guard = LockoutGuard(LockoutPolicy(10, 900), AttemptStore(engine), clock=Clock())
    strict, relaxed = locks(3, 300), locks(6, 300)
    for account, lockout, allowed in [("frank", strict, 2), ("grace", relaxed, 5)]:
        for _ in range(allowed):
            refused_bind(guard, account, lockout)
        with pytest.raises(InvalidCredentials):
            refused_bind(guard, account, lockout)
    for _ in range(10):  # an account the directory does not lock: the configured ten
        refused_bind(guard, "heidi")
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "heidi")


def test_failures_kept_until_success_are_forgotten_by_one(engine):
    clock = Clock()
    guard = LockoutGuard(LockoutPolicy(3, 900), AttemptStore(engine), clock=clock)
    kept = locks(3, None)
    refused_bind(guard, "ivan", kept)
    refused_bind(guard, "ivan", kept)
    clock.now += 3600  # past our window: the directory still counts them
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "ivan", kept)
    clock.now += KEPT_FAILURES_SECONDS  # the throttle in memory has expired too
    with guard.attempt("ivan", kept):
        pass  # a successful bind: the directory forgets its failures, so does the guard
    refused_bind(guard, "ivan", kept)
    refused_bind(guard, "ivan", kept)
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "ivan", kept)


def test_expired_rows_are_purged(engine):
    clock = Clock()
    store = AttemptStore(engine)
    guard = LockoutGuard(LockoutPolicy(3, 900), store, clock=clock)
    for index in range(40):
        refused_bind(guard, f"sprayed-{index}")
    assert rows(engine, tables.login_accounts) == 40
    assert rows(engine, tables.login_attempts) == 40
    clock.now += 901
    refused_bind(guard, "later")  # a minute has passed: this attempt purges first
    assert rows(engine, tables.login_attempts) == 1
    assert rows(engine, tables.login_accounts) == 1
    # One purge does bounded work; the next ones finish it.
    clock.now += 901
    for index in range(5):
        refused_bind(guard, f"sprayed-again-{index}")
    clock.now += 901
    assert store.purge(int(clock.now * 1000), chunk=2) == 4  # two attempts, two accounts
    assert store.purge(int(clock.now * 1000), chunk=100) == 6  # the rest


def test_made_up_names_past_the_cap_share_one_budget(engine):
    clock = Clock()
    guard = LockoutGuard(LockoutPolicy(3, 900), AttemptStore(engine), clock=clock, max_accounts=10)
    refused_bind(guard, "judy")  # counted before the flood
    for index in range(200):
        try:
            refused_bind(guard, f"made-up-{index}")
        except InvalidCredentials as refusal:
            assert refusal.reason == "throttled"
        clock.now += 0.01
    assert rows(engine, tables.login_accounts) <= 10 + 1  # the cap and the shared row
    assert rows(engine, tables.login_attempts) <= 10 * 3 + 3
    # The flood pushed out nobody's count: judy has two failures left, not three.
    refused_bind(guard, "judy")
    refused_bind(guard, "judy")
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "judy")
    # A new account draws from the shared budget, which the flood has used up.
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "ken")
    with engine.connect() as connection:
        accounts = set(connection.scalars(sa.select(tables.login_accounts.c.account)))
    assert OVERFLOW_ACCOUNT in accounts and "ken" not in accounts
    # Once the counts expire, the purge makes room again.
    clock.now += 901 + 60
    refused_bind(guard, "ken")
    with engine.connect() as connection:
        assert "ken" in set(connection.scalars(sa.select(tables.login_accounts.c.account)))


# -- against a real directory --------------------------------------------------
EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"


@pytest.fixture(scope="module")
def policy_slapd():
    instance = SlapdInstance(password_policy=True).start()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def search_server(policy_slapd, tmp_path_factory):
    """Search-then-bind, with a configured threshold above the directory's own."""
    with start_server(tmp_path_factory, policy_slapd, name="search", lockout_threshold="10") as s:
        yield s


@pytest.fixture(scope="module")
def direct_server(policy_slapd, tmp_path_factory):
    """Direct bind at ``uid={username},ou=people``: the login as typed goes into the DN."""
    with start_server(
        tmp_path_factory,
        policy_slapd,
        name="direct",
        user_search_base=None,
        user_dn_template="uid={username}," + PEOPLE_DN,
    ) as server:
        yield server


def login(server, username: str, password: str) -> int:
    header = basic_header(f"{username}:{password}".encode())
    return requests.get(server.url + EXPERIMENT_0, headers=header, timeout=60).status_code


def binds_of(slapd: SlapdInstance, dn: str) -> int:
    return slapd_count(slapd, f'BIND dn="{dn}" method=128')


def whoami(slapd: SlapdInstance, dn: str, password: str) -> subprocess.CompletedProcess:
    """``ldapwhoami`` as ``dn``: what any other service binding as the person sees."""
    return subprocess.run(
        ["ldapwhoami", "-x", "-H", slapd.ldap_uri, "-D", dn, "-w", password],
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_open(slapd: SlapdInstance, dn: str, password: str) -> None:
    assert "pwdAccountLockedTime" not in slapd.read_attributes(dn, "pwdAccountLockedTime")
    answer = whoami(slapd, dn, password)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip().lower() == f"dn:{dn}".lower()


#: A pwdPolicySubentry the service account cannot read (there is no such entry, so
#: slapd itself counts nothing for the account: the guard cannot know that).
HIDDEN_POLICY_DN = "cn=hidden,ou=policies,dc=example,dc=org"


@pytest.mark.parametrize(
    ("uid", "policy", "guard_limit"),
    [
        ("spray-default", None, POLICY_MAX_FAILURE - 1),
        ("spray-relaxed", RELAXED_POLICY_DN, RELAXED_MAX_FAILURE - 1),
        ("spray-hidden", HIDDEN_POLICY_DN, UNREADABLE_THRESHOLD - 1),
    ],
)
def test_spraying_never_locks_an_account_in_the_directory(
    policy_slapd, search_server, uid, policy, guard_limit
):
    """Many different wrong passwords: one less than the account's own pwdMaxFailure
    reach slapd (the configured ten would lock it), the account stays open for every
    service, and its password, cached before, keeps working through MLflow. A policy
    that cannot be read is assumed to lock after three, with a warning."""
    dn = add_person(policy_slapd, uid, "right-password")
    if policy is not None:
        policy_slapd.set_policy(uid, policy)
    assert login(search_server, uid, "right-password") == 200
    before = binds_of(policy_slapd, dn)
    for index in range(4 * RELAXED_MAX_FAILURE):
        assert login(search_server, uid, f"wrong-password-{index}") == 401
    wait_for_audit(search_server, user=uid, reason="throttled")
    slapd_barrier(policy_slapd)
    assert binds_of(policy_slapd, dn) - before == guard_limit
    failures = policy_slapd.read_attributes(dn, "pwdFailureTime").get("pwdFailureTime", [])
    assert len(failures) == (0 if policy == HIDDEN_POLICY_DN else guard_limit)
    assert login(search_server, uid, "right-password") == 200
    assert_open(policy_slapd, dn, "right-password")
    if policy == HIDDEN_POLICY_DN:
        assert f"lockout policy {HIDDEN_POLICY_DN} (not readable)" in search_server.log()


#: Spellings of ``u28`` that slapd binds as ``uid=u28`` (case, insignificant and
#: no-break/ideographic spaces, fullwidth forms: RFC 4518 preparation).
SPELLINGS = ["u28", "U28", " u28\xa0", "\u3000u28 ", "\uff55\uff12\uff18", "u28  ", "\xa0U28"]


def test_direct_bind_counts_every_spelling_of_an_entry_as_one_account(policy_slapd, direct_server):
    dn = add_person(policy_slapd, "u28", "right-password")
    slapd_barrier(policy_slapd)
    before = slapd_count(policy_slapd, f',{PEOPLE_DN}" method=128')
    for index in range(40):
        spelling = SPELLINGS[index % len(SPELLINGS)]
        assert login(direct_server, spelling, f"wrong-password-{index}") == 401
    slapd_barrier(policy_slapd)
    binds = slapd_count(policy_slapd, f',{PEOPLE_DN}" method=128') - before
    assert binds == POLICY_MAX_FAILURE - 1
    assert_open(policy_slapd, dn, "right-password")


def operations(slapd: SlapdInstance, server, username: str, password: str) -> tuple[int, int]:
    """A refused login's (searches, binds other than anonymous and the service
    account's), as slapd logged them."""
    slapd_barrier(slapd)
    start = len(slapd.stats_lines())
    assert login(server, username, password) == 401
    slapd_barrier(slapd)
    lines = slapd.stats_lines()[start:]
    searches = sum(" SRCH base=" in line for line in lines)
    binds = sum(
        " method=128" in line and 'dn=""' not in line and SERVICE_DN not in line for line in lines
    )
    return searches, binds


def test_an_unknown_name_costs_what_a_wrong_password_costs(policy_slapd, search_server):
    """The same LDAP operations for both answers, so their timing cannot tell who has
    an account; and an unknown name is throttled as a known one is."""
    add_person(policy_slapd, "timing-known", "right-password")
    assert login(search_server, "timing-known", "right-password") == 200  # warm up
    for index in range(2):
        known = operations(policy_slapd, search_server, "timing-known", f"wrong-{index}")
        unknown = operations(policy_slapd, search_server, "timing-nobody", f"wrong-{index}")
        assert known == unknown == (1, 1)
    assert login(search_server, "timing-nobody", "wrong-3") == 401
    wait_for_audit(search_server, user="timing-nobody", reason="throttled")


def test_a_flood_of_made_up_names_never_throttles_a_persons_login(engine):
    """Past the cap, names no entry matched share one budget; an entry the search found
    (``found``) keeps a counter of its own, so the flood cannot use up a person's."""
    clock = Clock()
    guard = LockoutGuard(LockoutPolicy(3, 900), AttemptStore(engine), clock=clock, max_accounts=10)
    for index in range(200):
        try:
            refused_bind(guard, f"name:made-up-{index}")
        except InvalidCredentials as refusal:
            assert refusal.reason == "throttled"
        clock.now += 0.01
    with pytest.raises(InvalidCredentials):
        refused_bind(guard, "name:one-more")  # the shared budget is used up
    with guard.attempt("uid=ken", found=True):
        pass  # ken's successful bind: not throttled, the slot given back
    with guard.attempt("uid=ken", found=True) as attempt:
        attempt.refused = True
    with engine.connect() as connection:
        accounts = set(connection.scalars(sa.select(tables.login_accounts.c.account)))
    assert "uid=ken" in accounts
    assert rows(engine, tables.login_accounts) <= 10 + 2  # the cap, the shared row, ken


def test_past_the_cap_a_person_still_logs_in_through_the_server(policy_slapd, tmp_path):
    """A real server whose guard table is at its cap (as after a flood of made-up names):
    made-up names are throttled together, a person's fresh login is not."""
    person = add_person(policy_slapd, "flood-victim", "victim-password")
    with start_server(tmp_path, policy_slapd, name="flooded") as server:
        now_ms = int(time.time() * 1000)
        database = sa.create_engine(f"sqlite:///{server.config_path.parent / 'auth.db'}")
        with database.begin() as connection:
            connection.execute(
                tables.login_accounts.insert(),
                [
                    {"account": f"name:flood-{i}", "touched_at_ms": now_ms}
                    for i in range(MAX_ACCOUNTS)
                ],
            )
        database.dispose()
        for index in range(POLICY_MAX_FAILURE + 1):
            login(server, f"made-up-{index}", "wrong-password")
        wait_for_audit(server, reason="throttled")
        # Never counted before, so past the cap; found by the search, so its own budget.
        assert login(server, "flood-victim", "wrong-password") == 401
        assert login(server, "flood-victim", "victim-password") == 200
    assert_open(policy_slapd, person, "victim-password")
