"""Revalidation decisions and the fleet's coordination, on a real SQLite database shared by
two revalidators (two workers), with a fake directory and a fake clock."""

from __future__ import annotations

import pytest
from fakes import Clock, plugin_engine

from mlflow_ldap_auth.auth.admission import NOT_IN_ALLOWED_GROUPS, Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.auth.revalidation import STATUS_TTL_SECONDS, Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.errors import DirectoryUnavailable, NotAllowed
from mlflow_ldap_auth.ldap.account_state import AccountState
from mlflow_ldap_auth.ldap.entries import DirectoryUser

INTERVAL = 60
GRACE = 600


class Directory:
    """Entries by username; counts look-ups; ``down`` raises like an outage."""

    def __init__(self) -> None:
        self.entries: dict[str, DirectoryUser] = {}
        self.lookups: list[str] = []
        self.down = False

    def add(self, username: str, status: str = "ok", marker: str | None = "1") -> None:
        self.entries[username] = DirectoryUser(
            dn=f"uid={username},ou=people", username=username, account=AccountState(status, marker)
        )

    def lookup(self, username: str) -> DirectoryUser | None:
        self.lookups.append(username)
        if self.down:
            raise DirectoryUnavailable("down")
        return self.entries.get(username)


class Admission:
    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.admitted: list[str] = []

    def admit(self, user: DirectoryUser, source) -> Admitted:
        if user.username in self.refused:
            raise NotAllowed("no", reason=NOT_IN_ALLOWED_GROUPS)
        self.admitted.append(user.username)
        return Admitted(is_admin=False, changed=False)


def new_cache(clock) -> CredentialCache:
    return CredentialCache(3600, 100, 30, remember_refusal=lambda e: True, timer=clock)


@pytest.fixture
def fleet(tmp_path):
    engine = plugin_engine(tmp_path)
    clock, directory, admission = Clock(), Directory(), Admission()

    def worker() -> Revalidator:
        return Revalidator(
            interval_seconds=INTERVAL,
            grace_seconds=GRACE,
            lookup=directory.lookup,
            checks=UserChecks(engine),
            admission=admission,
            cache=new_cache(clock),
            is_directory_user=lambda p: p.method == "password",
            clock=clock,
        )

    return clock, directory, admission, worker(), worker()


def login(worker: Revalidator, directory: Directory, username: str) -> None:
    """What a fresh bind does: cache the password, record the check."""
    principal = Principal(username, False, dn=f"uid={username}")
    worker._cache.get_or_check(username, "pw", lambda _l, _p: principal)
    worker.record_login(directory.entries[username])


def cached(worker: Revalidator, username: str) -> bool:
    return worker._cache.peek(username, "pw") is not None


def test_the_fleet_checks_each_active_user_once_per_interval(fleet):
    clock, directory, _, one, two = fleet
    users = [f"user{i}" for i in range(50)]
    for name in users:
        directory.add(name)
        login(one, directory, name)
        two.note_token_use(name)
    assert one.tick() == 0 and two.tick() == 0  # just checked at login
    clock.now += one.due_age + 1
    checked = one.tick() + two.tick() + one.tick() + two.tick()
    assert checked == 50
    assert sorted(directory.lookups) == sorted(users)  # each once, by one of the workers
    clock.now += INTERVAL
    assert one.tick() + two.tick() == 50
    assert len(directory.lookups) == 100


def test_a_row_is_due_early_enough_to_reach_every_worker_within_the_interval(fleet):
    _, _, _, one, _ = fleet
    assert one.due_age + STATUS_TTL_SECONDS + one.tick_seconds <= INTERVAL


def test_a_gone_user_is_refused_everywhere_and_loses_cached_passwords(fleet):
    clock, directory, _, one, two = fleet
    directory.add("alice")
    directory.add("bob")
    login(one, directory, "alice")
    login(two, directory, "alice")
    login(two, directory, "bob")
    del directory.entries["alice"]
    clock.now += one.due_age + 1
    one.tick()
    assert not cached(one, "alice")
    assert one.token_verdict("alice") == "owner_gone"
    # The other worker learns it from the shared row at its next tick.
    assert cached(two, "alice")
    clock.now += STATUS_TTL_SECONDS + 1
    two.tick()
    assert not cached(two, "alice") and cached(two, "bob")
    assert two.token_verdict("alice") == "owner_gone"
    assert two.token_verdict("bob") is None


@pytest.mark.parametrize("status", ["disabled", "locked", "expired"])
def test_a_refused_account_state_refuses_tokens(fleet, status):
    clock, directory, _, one, _ = fleet
    directory.add("alice")
    login(one, directory, "alice")
    directory.add("alice", status=status)
    clock.now += one.due_age + 1
    one.tick()
    assert one.token_verdict("alice") == f"owner_{status}"
    assert not cached(one, "alice")
    directory.add("alice")  # unlocked again
    clock.now += INTERVAL
    one.note_token_use("alice")  # the pipeline keeps trying: the user stays active
    one.tick()
    assert one.token_verdict("alice") is None


def test_outside_allowed_groups(fleet):
    clock, directory, admission, one, _ = fleet
    directory.add("alice")
    login(one, directory, "alice")
    admission.refused.add("alice")
    clock.now += one.due_age + 1
    one.tick()
    assert one.token_verdict("alice") == "owner_not_allowed"


def test_a_password_change_evicts_cached_passwords_but_keeps_tokens(fleet):
    clock, directory, _, one, two = fleet
    directory.add("alice", marker=None)  # OpenLDAP: no pwdChangedTime before a change
    login(one, directory, "alice")
    login(two, directory, "alice")
    directory.add("alice", marker="20261202154045Z")
    clock.now += one.due_age + 1
    one.tick()
    assert not cached(one, "alice")
    assert one.token_verdict("alice") is None
    clock.now += STATUS_TTL_SECONDS + 1
    two.tick()
    assert not cached(two, "alice")
    # A new login with the new password is not evicted again.
    login(two, directory, "alice")
    clock.now += 1
    two.tick()
    assert cached(two, "alice")


def test_outage_grace_then_503(fleet):
    clock, directory, _, one, _ = fleet
    directory.add("alice")
    login(one, directory, "alice")
    directory.down = True
    clock.now += INTERVAL + 1
    assert one.token_verdict("alice") is None  # stale, but within the grace period
    calls = len(directory.lookups)
    assert one.token_verdict("alice") is None
    assert len(directory.lookups) == calls  # a failed check is not retried at once
    clock.now += GRACE
    with pytest.raises(DirectoryUnavailable) as info:
        one.token_verdict("alice")
    assert info.value.reason == "outage_grace_over"
    directory.down = False
    clock.now += 11
    assert one.token_verdict("alice") is None  # recovered: checked inline, usable


def test_a_user_never_checked_is_checked_on_first_token_use(fleet):
    _, directory, _, one, _ = fleet
    directory.add("carol")
    assert one.token_verdict("carol") is None
    assert directory.lookups == ["carol"]
    directory.down = True
    with pytest.raises(DirectoryUnavailable):
        one.token_verdict("dave")


def test_a_claim_keeps_a_second_worker_from_checking(fleet):
    clock, directory, _, one, two = fleet
    directory.add("alice")
    login(one, directory, "alice")
    clock.now += one.due_age + 1
    checks = one._checks
    assert checks.claim("alice", int(clock.now), int(clock.now - one.due_age))
    two.note_token_use("alice")
    assert two.tick() == 0 and directory.lookups == []
    checks.release("alice")
    assert two.tick() == 1 and directory.lookups == ["alice"]


def test_a_stale_row_met_on_a_request_is_checked_once_by_the_fleet(fleet):
    clock, directory, _, one, two = fleet
    directory.add("idle")
    login(one, directory, "idle")
    clock.now += INTERVAL + 1  # an idle token comes back: no round kept the row fresh
    assert one.token_verdict("idle") is None and directory.lookups == ["idle"]
    # The other worker reads the fresh row instead of asking the directory again.
    assert two.token_verdict("idle") is None and directory.lookups == ["idle"]
    clock.now += INTERVAL + 1
    checks = one._checks
    assert checks.claim("idle", int(clock.now), int(clock.now - one.due_age))  # one is on it
    assert two.token_verdict("idle") is None  # within the grace period, nobody asks twice
    assert directory.lookups == ["idle"]


def test_claims_and_results_are_batched_per_round(fleet):
    clock, directory, _, one, _ = fleet
    names = [f"user{i:03d}" for i in range(120)]
    for name in names:
        directory.add(name)
        one.note_token_use(name)
    statements = []
    from sqlalchemy import event

    engine = one._checks.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert one.tick() == 120  # never checked: all claimed, inserted rows
    statements.clear()
    clock.now += INTERVAL
    for name in names:
        one.note_token_use(name)
    assert one.tick() == 120
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    # one claim update for the whole round, then one result update per user (one transaction)
    assert len(updates) == 1 + 120, len(updates)
