"""Revalidation decisions and the fleet's coordination, on a real SQLite database shared by
two revalidators (two workers), with a fake directory and a fake clock.

Requests that need a check at the same moment run on real threads; a check under way
is held open by the fake directory until the test lets it answer.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from fakes import Clock, plugin_engine

from mlflow_ldap_auth.auth import audit
from mlflow_ldap_auth.auth.admission import NOT_IN_ALLOWED_GROUPS, Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.auth.revalidation import STATUS_TTL_SECONDS, Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.errors import DirectoryUnavailable, NotAllowed, SearchRefused
from mlflow_ldap_auth.ldap.account_state import AccountState
from mlflow_ldap_auth.ldap.connection import LdapConnection, OperationCounter
from mlflow_ldap_auth.ldap.entries import DirectoryUser

INTERVAL = 60
GRACE = 600
#: How long a request waits for another worker's check here (real seconds): far longer
#: than the tests keep a check open, so whether a request waited does not depend on
#: the machine's speed.
CLAIM_WAIT = 30.0
#: How long a test keeps a check open while other requests come (real seconds).
HOLD = 0.5


class Directory:
    """Entries by username; counts look-ups; ``down`` raises like an outage.

    ``failing`` names users whose look-up raises that error (the server answered, but
    not with the entry). ``hold()`` keeps the next look-ups waiting until ``answer()``;
    ``entered`` is set when one is waiting.
    """

    def __init__(self) -> None:
        self.entries: dict[str, DirectoryUser] = {}
        self.lookups: list[str] = []
        self.down = False
        self.failing: dict[str, Exception] = {}
        self.entered = threading.Event()
        self._answer: threading.Event | None = None

    def hold(self) -> None:
        self._answer = threading.Event()

    def answer(self) -> None:
        self._answer.set()

    def add(self, username: str, status: str = "ok", marker: str | None = "1") -> None:
        self.entries[username] = DirectoryUser(
            dn=f"uid={username},ou=people", username=username, account=AccountState(status, marker)
        )

    def lookup(self, username: str) -> DirectoryUser | None:
        self.lookups.append(username)
        if self._answer is not None:
            self.entered.set()
            assert self._answer.wait(30), "the test never let the directory answer"
        if self.down:
            raise DirectoryUnavailable("down")
        if username in self.failing:
            raise self.failing[username]
        return self.entries.get(username)


class Admission:
    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.admitted: list[str] = []
        #: Users whose re-sync fails (MLflow's store raising).
        self.broken: set[str] = set()

    def admit(self, user: DirectoryUser, source) -> Admitted:
        if user.username in self.broken:
            raise RuntimeError("the store failed")
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
            claim_wait_seconds=CLAIM_WAIT,
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
        two.note_credential_use(name)
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
    one.note_credential_use("alice")  # the pipeline keeps trying: the user stays active
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


def test_a_sign_in_keeps_the_marker_of_the_newest_check(fleet):
    """``password_marker``: what a session opened now keeps (``session_verdict``), from
    the bind just made here, or from the database for a worker that did not bind."""
    clock, directory, _, one, two = fleet
    directory.add("alice", marker="20261202154045Z")
    login(one, directory, "alice")
    assert one.password_marker("alice") == "20261202154045Z"
    assert one.session_verdict("alice", one.password_marker("alice")) is None
    clock.now += STATUS_TTL_SECONDS + 1  # nothing left in two's memory: the row
    assert two.password_marker("alice") == "20261202154045Z"
    assert one.password_marker("nobody") is None


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
    two.note_credential_use("alice")
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
    # A claim whose holder never writes a result (a worker that died mid-check) holds
    # a request for claim_wait_seconds at most: then the worker checks itself.
    checks = one._checks
    assert checks.claim("idle", int(clock.now), int(clock.now - one.due_age))
    two._claim_wait = 0.2
    directory.add("idle", status="disabled")
    assert two.token_verdict("idle") == "owner_disabled"
    assert directory.lookups == ["idle", "idle"]


def test_claims_and_results_are_batched_per_round(fleet):
    clock, directory, _, one, _ = fleet
    names = [f"user{i:03d}" for i in range(120)]
    for name in names:
        directory.add(name)
        one.note_credential_use(name)
    statements = []
    from sqlalchemy import event

    engine = one._checks.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert one.tick() == 120  # never checked: all claimed, inserted rows
    statements.clear()
    clock.now += INTERVAL
    for name in names:
        one.note_credential_use(name)
    assert one.tick() == 120
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    # one claim update for the whole round, then one result update per user (one transaction)
    assert len(updates) == 1 + 120, len(updates)


def in_parallel(calls: int, verdict) -> tuple[list[threading.Thread], list]:
    """``calls`` threads that each call ``verdict()`` at the same moment (a barrier);
    their results (or exceptions) land in the returned list."""
    results: list = []
    start = threading.Barrier(calls)

    def request() -> None:
        start.wait()
        try:
            results.append(verdict())
        except Exception as error:
            results.append(error)

    threads = [threading.Thread(target=request) for _ in range(calls)]
    for thread in threads:
        thread.start()
    return threads, results


def let_wait(threads: list[threading.Thread], seconds: float) -> None:
    """Give ``threads`` ``seconds`` in all to finish (requests that must not finish yet)."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def joined(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


@pytest.mark.parametrize("age", [INTERVAL + 1, GRACE + INTERVAL], ids=["stale", "past_grace"])
def test_parallel_requests_of_one_worker_share_one_check_and_its_verdict(fleet, age):
    clock, directory, _, one, _ = fleet
    directory.add("idle")
    login(one, directory, "idle")
    clock.now += age  # an idle token comes back: 8 requests at once
    directory.add("idle", status="locked")
    directory.hold()
    threads, results = in_parallel(8, lambda: one.token_verdict("idle"))
    assert directory.entered.wait(30)
    # The others are waiting for the check under way, or still on their way to it:
    # whichever, once they are all back each has the directory's verdict.
    let_wait(threads, HOLD)
    directory.answer()
    joined(threads)
    assert results == ["owner_locked"] * 8
    assert directory.lookups == ["idle"]


@pytest.mark.parametrize("age", [INTERVAL + 1, GRACE + INTERVAL], ids=["stale", "past_grace"])
def test_a_worker_that_loses_the_claim_waits_for_the_winners_verdict(fleet, age):
    clock, directory, _, one, two = fleet
    directory.add("idle")
    login(one, directory, "idle")
    clock.now += age
    directory.add("idle", status="locked")
    directory.hold()
    winner, winner_results = in_parallel(1, lambda: one.token_verdict("idle"))
    assert directory.entered.wait(30)  # the first worker holds the claim, checking
    losers, loser_results = in_parallel(4, lambda: two.token_verdict("idle"))
    let_wait(losers, HOLD)  # well inside their wait for the winner
    directory.answer()
    joined(winner + losers)
    assert winner_results == ["owner_locked"]
    assert loser_results == ["owner_locked"] * 4  # read from the winner's row
    assert directory.lookups == ["idle"]  # one check for the fleet


def test_an_answered_user_is_usable_again_for_waiting_requests(fleet):
    clock, directory, _, one, two = fleet
    directory.add("idle")
    login(one, directory, "idle")
    clock.now += GRACE + INTERVAL  # long idle, but the directory answers
    directory.hold()
    winner, winner_results = in_parallel(1, lambda: two.token_verdict("idle"))
    assert directory.entered.wait(30)
    threads, results = in_parallel(8, lambda: one.token_verdict("idle"))
    let_wait(threads, HOLD)
    directory.answer()
    joined(winner + threads)
    assert winner_results + results == [None] * 9  # never outage_grace_over


@pytest.fixture
def audited():
    records: list[dict] = []
    audit.add_sink(records.append)
    yield records
    audit.remove_sink(records.append)


def revalidated(records: list[dict], user: str) -> list[str]:
    return [r["reason"] for r in records if r["event"] == "user_revalidated" and r["user"] == user]


def test_one_entry_that_cannot_be_read_does_not_hold_back_the_batch(fleet, audited):
    clock, directory, _, one, two = fleet
    for name in ("alice", "leaver", "moved"):
        directory.add(name)
        login(one, directory, name)
    del directory.entries["leaver"]
    directory.failing["moved"] = SearchRefused("10 referral", reason="search_error")
    clock.now += one.due_age + 1
    assert one.tick() == 3  # one batch for the three
    assert one.token_verdict("leaver") == "owner_gone"
    assert one.token_verdict("alice") is None
    # The user whose entry cannot be read: tokens until the interval is over, cached
    # password evicted at once (a login binds and reads the entry itself).
    assert one.token_verdict("moved") is None
    assert not cached(one, "moved") and cached(one, "alice")
    assert revalidated(audited, "moved") == ["check_failed"]
    clock.now += INTERVAL - one.due_age  # the last successful check is now too old
    for worker in (one, two):
        assert worker.token_verdict("moved") == "owner_check_failed"
        assert worker.token_verdict("alice") is None


@pytest.mark.parametrize(
    "failure",
    ["search_refused", "unexpected_error", "store_error"],
)
def test_a_check_that_keeps_failing_refuses_tokens_after_the_interval_not_the_grace(
    fleet, audited, failure
):
    clock, directory, admission, one, two = fleet
    directory.add("alice")
    login(one, directory, "alice")
    two.note_credential_use("alice")
    if failure == "store_error":
        admission.broken.add("alice")
    else:
        error = SearchRefused("11 adminLimitExceeded") if failure == "search_refused" else None
        directory.failing["alice"] = error or KeyError("a bug")
    clock.now += one.due_age + 1
    assert one.tick() == 1
    assert one.token_verdict("alice") is None  # the last success is within the interval
    clock.now += INTERVAL  # retried, failing again; far inside the 600 s grace
    two.note_credential_use("alice")  # the pipeline keeps trying
    assert two.tick() == 1
    for worker in (one, two):
        assert worker.token_verdict("alice") == "owner_check_failed"
    assert revalidated(audited, "alice") == ["check_failed"]  # once, not per retry
    directory.failing.clear()
    admission.broken.clear()
    clock.now += STATUS_TTL_SECONDS + 11  # past the retry pause
    two.note_credential_use("alice")
    two.tick()
    assert one.token_verdict("alice") is None and two.token_verdict("alice") is None
    assert revalidated(audited, "alice") == ["check_failed", "usable_again"]


def test_a_never_checked_user_whose_check_fails_is_refused_not_503(fleet):
    _, directory, _, one, _ = fleet
    directory.add("carol")
    directory.failing["carol"] = SearchRefused("10 referral")
    assert one.token_verdict("carol") == "owner_check_failed"


def test_an_outage_during_the_user_by_user_retry_postpones_the_rest(fleet):
    clock, directory, _, one, _ = fleet
    for name in ("alice", "bob", "carol"):
        directory.add(name)
        login(one, directory, name)
    directory.failing["alice"] = SearchRefused("10 referral")
    directory.failing["bob"] = DirectoryUnavailable("down")  # the directory went away
    clock.now += one.due_age + 1
    one.tick()
    clock.now += INTERVAL - one.due_age
    # alice's check failed while the directory answered; bob and carol got no answer:
    # theirs is an outage, served within the grace.
    assert one.token_verdict("alice") == "owner_check_failed"
    assert one.token_verdict("bob") is None and one.token_verdict("carol") is None


class _Answered:
    """What ldap3 leaves after a search the server answered with result ``code``."""

    def __init__(self, code: int) -> None:
        self.result = {"result": code, "description": "as answered", "message": ""}
        self.response: list = []

    def search(self, *args, **kwargs) -> bool:
        return False


@pytest.mark.parametrize(
    ("code", "refused"),
    [(10, True), (11, True), (50, True), (80, True), (51, False), (52, False)],
    ids=["referral", "admin_limit", "access", "other", "busy", "unavailable"],
)
def test_only_a_busy_or_unavailable_answer_to_a_search_is_an_outage(code, refused):
    connection = LdapConnection(
        _Answered(code),
        SimpleNamespace(host_port="127.0.0.1:389"),
        pool=None,
        operations=OperationCounter(),
    )
    with pytest.raises(DirectoryUnavailable) as info:
        connection.search("ou=people,dc=example,dc=org", "(uid=alice)", "SUBTREE", ["uid"])
    assert isinstance(info.value, SearchRefused) is refused
    assert info.value.reason == "search_error"  # a login answers 503 either way
