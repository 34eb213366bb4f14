"""Sessions on the request path (``sessions.authenticator``): two workers (two
authenticators, each with its own real ``Revalidator``) on one real SQLite database, a
fake directory and a fake clock."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fakes import Clock, plugin_engine

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth import audit
from mlflow_ldap_auth.auth.admission import Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.account_state import AccountState
from mlflow_ldap_auth.ldap.entries import DirectoryUser
from mlflow_ldap_auth.sessions import secret_format
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.store import LAST_SEEN_RESOLUTION_SECONDS, SessionStore
from mlflow_ldap_auth.tokens import secret_format as token_format

INTERVAL = 300
GRACE = 3600
IDLE = 8 * 3600
MAX = 7 * 86_400


class Directory:
    def __init__(self) -> None:
        self.entries: dict[str, DirectoryUser] = {}
        self.down = False

    def add(self, username: str, status: str = "ok", marker: str | None = "1") -> DirectoryUser:
        user = DirectoryUser(
            dn=f"uid={username},ou=people", username=username, account=AccountState(status, marker)
        )
        self.entries[username] = user
        return user

    def lookup(self, username: str) -> DirectoryUser | None:
        if self.down:
            raise DirectoryUnavailable("down")
        return self.entries.get(username)


class Admission:
    def admit(self, user, source) -> Admitted:
        return Admitted(is_admin=False, changed=False)


class CountingStore(SessionStore):
    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.lookups = 0
        self.touches = 0

    def by_hash(self, digest):
        self.lookups += 1
        return super().by_hash(digest)

    def touch(self, session_id, now):
        self.touches += 1
        return super().touch(session_id, now)


class Worker:
    def __init__(self, engine, clock, directory) -> None:
        self.store = CountingStore(engine)
        self.revalidator = Revalidator(
            interval_seconds=INTERVAL,
            grace_seconds=GRACE,
            lookup=directory.lookup,
            checks=UserChecks(engine),
            admission=Admission(),
            cache=CredentialCache(3600, 100, 30, remember_refusal=lambda e: True, timer=clock),
            is_directory_user=lambda p: p.method == "password",
            clock=clock,
            claim_wait_seconds=5.0,
        )
        self.sessions = SessionAuthenticator(
            self.store, self.revalidator, idle_seconds=IDLE, max_seconds=MAX, clock=clock
        )


@pytest.fixture
def world(tmp_path):
    engine = plugin_engine(tmp_path)
    clock, directory = Clock(), Directory()
    return (
        engine,
        clock,
        directory,
        Worker(engine, clock, directory),
        Worker(engine, clock, directory),
    )


@pytest.fixture
def audited():
    records: list[dict] = []
    audit.add_sink(records.append)
    yield records
    audit.remove_sink(records.append)


def sign_in(worker: Worker, directory: Directory, username: str) -> str:
    """What the sign-in page does after a right password: the bind's check, a session."""
    user = directory.entries[username]
    worker.revalidator.record_login(user)
    _, secret = worker.sessions.sign_in(username, "10.0.0.1", user.account.password_marker)
    return secret


def refusal(worker: Worker, secret: str) -> str:
    with pytest.raises(InvalidCredentials) as refused:
        worker.sessions.authenticate(secret, "10.0.0.1")
    return refused.value.reason


def ended(records: list[dict]) -> list[tuple[str, str]]:
    return [(r["user"], r["reason"]) for r in records if r["event"] == reasons.SESSION_ENDED]


def test_session_secret_is_kept_away_from_the_directory_like_a_token():
    secret = secret_format.new_secret()
    assert secret_format.is_well_formed(secret)
    assert secret != secret_format.new_secret()
    # Pasted as a password or a name: the web layer's token guard catches it (never
    # bound or searched), and it is no token either.
    assert token_format.mentions_secret(secret) and token_format.looks_like_secret(secret)
    assert not token_format.is_well_formed(secret)
    assert not secret_format.is_well_formed(token_format.new_secret())


def test_a_session_works_on_every_worker_as_its_owner(world):
    _, _, directory, one, two = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    for worker in (one, two):
        principal = worker.sessions.authenticate(secret, "10.0.0.1")
        assert (principal.username, principal.method, principal.is_admin) == (
            "alice",
            "session",
            False,
        )
    # The owner counts as an active user of both workers: one revalidation for both.
    assert "alice" in one.revalidator.active_users()
    assert "alice" in two.revalidator.active_users()


def test_sign_out_is_refused_at_once_on_the_other_worker(world, audited):
    _, _, directory, one, two = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    two.sessions.authenticate(secret, None)  # two has served it
    assert one.sessions.sign_out(secret, "10.0.0.1") is not None
    assert refusal(two, secret) == reasons.ENDED_SESSION
    assert refusal(one, secret) == reasons.ENDED_SESSION
    assert ended(audited) == [("alice", reasons.LOGOUT)]
    assert one.sessions.sign_out(secret, None) is None  # a second sign-out ends nothing
    assert ended(audited) == [("alice", reasons.LOGOUT)]


def test_a_replayed_ended_secret_costs_no_query(world):
    _, _, directory, one, _ = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    one.sessions.sign_out(secret, None)
    lookups = one.store.lookups
    for _ in range(3):
        assert refusal(one, secret) == reasons.ENDED_SESSION
    assert one.store.lookups == lookups


def test_unknown_and_malformed_secrets_are_refused(world, audited):
    _, _, _, one, _ = world
    assert refusal(one, secret_format.new_secret()) == reasons.UNKNOWN_SESSION
    assert refusal(one, "not-a-session") == reasons.UNKNOWN_SESSION
    assert one.store.lookups == 1  # the malformed one needs no query
    assert [r["reason"] for r in audited] == [reasons.UNKNOWN_SESSION] * 2
    assert {r["event"] for r in audited} == {reasons.SESSION_REFUSED}


def test_idle_session_ends_once_with_one_audit_line(world, audited):
    engine, clock, directory, one, two = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    clock.now += IDLE - 1
    one.sessions.authenticate(secret, None)  # still in use: last seen now
    clock.now += IDLE - 1
    two.sessions.authenticate(secret, None)
    clock.now += IDLE + 1
    assert refusal(two, secret) == reasons.IDLE
    assert refusal(one, secret) == reasons.ENDED_SESSION
    assert ended(audited) == [("alice", reasons.IDLE)]
    with engine.connect() as connection:
        row = connection.execute(sa.select(tables.sessions)).one()
    assert (row.ended_reason, row.ended_at, row.ended_by) == (reasons.IDLE, int(clock.now), None)


def test_session_expires_at_its_absolute_lifetime_however_active(world, audited):
    _, clock, directory, one, _ = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    while clock.now + 3600 < 1_800_000_000 + MAX:
        clock.now += 3600
        one.revalidator.tick()
        one.sessions.authenticate(secret, None)
    clock.now = 1_800_000_000 + MAX
    assert refusal(one, secret) == reasons.EXPIRED
    assert ended(audited) == [("alice", reasons.EXPIRED)]


def test_last_seen_is_written_at_most_once_per_resolution(world):
    _, clock, directory, one, two = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    for _ in range(5):
        one.sessions.authenticate(secret, None)
        two.sessions.authenticate(secret, None)
    assert one.store.touches + two.store.touches == 0  # seen at sign-in
    clock.now += LAST_SEEN_RESOLUTION_SECONDS
    for _ in range(5):
        one.sessions.authenticate(secret, None)
        two.sessions.authenticate(secret, None)
    assert one.store.touches == 1  # the first request after the minute; the rest read it
    assert two.store.touches == 0


def test_revalidation_ends_one_users_sessions_and_not_anothers(world, audited):
    _, clock, directory, one, two = world
    directory.add("alice")
    directory.add("bob")
    alice = sign_in(one, directory, "alice")
    bob = sign_in(one, directory, "bob")
    for worker in (one, two):
        worker.sessions.authenticate(alice, None)
        worker.sessions.authenticate(bob, None)
    directory.add("alice", status="disabled")
    clock.now += one.revalidator.due_age + 1
    assert one.revalidator.tick() == 2
    clock.now += 6  # past the rows' memory: two reads the new rows
    assert refusal(two, alice) == reasons.OWNER_DISABLED
    assert two.sessions.authenticate(bob, None).username == "bob"
    assert refusal(one, alice) == reasons.ENDED_SESSION
    # Usable again in the directory: the session stays over (a token would work again).
    directory.add("alice")
    clock.now += one.revalidator.due_age + 1
    one.revalidator.tick()
    assert refusal(one, alice) == reasons.ENDED_SESSION
    assert ended(audited) == [("alice", reasons.OWNER_DISABLED)]


def test_password_change_ends_sessions_but_not_a_new_one(world, audited):
    _, clock, directory, one, two = world
    directory.add("alice", marker="20260101000000Z")
    old = sign_in(one, directory, "alice")
    two.sessions.authenticate(old, None)
    directory.add("alice", marker="20261207000000Z")
    clock.now += one.revalidator.due_age + 1
    two.revalidator.tick()
    assert refusal(two, old) == reasons.OWNER_PASSWORD_CHANGED
    new = sign_in(one, directory, "alice")
    assert one.sessions.authenticate(new, None).username == "alice"
    assert two.sessions.authenticate(new, None).username == "alice"
    assert ended(audited) == [("alice", reasons.OWNER_PASSWORD_CHANGED)]


def test_a_first_password_marker_counts_as_a_change(world):
    _, clock, directory, one, _ = world
    directory.add("alice", marker=None)  # OpenLDAP: no pwdChangedTime before a change
    secret = sign_in(one, directory, "alice")
    one.sessions.authenticate(secret, None)
    directory.add("alice", marker="20261207000000Z")
    clock.now += one.revalidator.due_age + 1
    one.revalidator.tick()
    assert refusal(one, secret) == reasons.OWNER_PASSWORD_CHANGED


def test_outage_grace_then_503_without_ending_the_session(world, audited):
    engine, clock, directory, one, two = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    directory.down = True
    clock.now += GRACE - 10
    assert two.sessions.authenticate(secret, None).username == "alice"
    clock.now += 20
    with pytest.raises(DirectoryUnavailable) as unavailable:
        two.sessions.authenticate(secret, None)
    assert unavailable.value.reason == reasons.OUTAGE_GRACE_OVER
    assert audited[-1]["event"] == reasons.SESSION_REFUSED
    assert audited[-1]["result"] == "unavailable"
    directory.down = False
    clock.now += 11  # revalidation asks again RETRY_SECONDS after a postponed check
    assert two.sessions.authenticate(secret, None).username == "alice"
    assert ended(audited) == []
    with engine.connect() as connection:
        assert connection.execute(sa.select(tables.sessions.c.ended_at)).scalar_one() is None


def test_end_by_handle_and_end_all(world, audited):
    _, _, directory, one, two = world
    directory.add("alice")
    first, second, third = (sign_in(one, directory, "alice") for _ in range(3))
    handle = one.store.by_hash(secret_format.secret_hash(first)).id
    assert one.sessions.end(handle, "alice", reasons.ENDED_BY_USER, None) is not None
    assert one.sessions.end(handle, "root", reasons.ENDED_BY_ADMIN, None) is None
    assert refusal(two, first) == reasons.ENDED_SESSION
    assert two.sessions.authenticate(second, None).username == "alice"
    assert len(two.sessions.end_all("ALICE", "root", reasons.ENDED_BY_ADMIN, None)) == 2
    assert refusal(one, second) == refusal(one, third) == reasons.ENDED_SESSION
    assert (
        ended(audited)
        == [("alice", reasons.ENDED_BY_USER)] + [("alice", reasons.ENDED_BY_ADMIN)] * 2
    )


def test_the_secret_reaches_neither_the_database_nor_the_audit(world, audited, tmp_path):
    engine, clock, directory, one, two = world
    directory.add("alice")
    secret = sign_in(one, directory, "alice")
    two.sessions.authenticate(secret, None)
    clock.now += IDLE + 1
    refusal(two, secret)
    refusal(two, secret)
    secret_part = secret[len(secret_format.PREFIX) :]
    assert secret_part not in json.dumps(audited)
    assert audited and all(r["session_id"] for r in audited)
    engine.dispose()
    dump = (tmp_path / "auth.db").read_bytes()
    assert secret_part.encode() not in dump
    assert secret_format.secret_hash(secret).encode() in dump


def test_the_memories_of_refused_sessions_are_bounded_by_max_size(world):
    """Made-up and ended secrets are remembered up to ``max_size`` each and no further:
    what a flood pushes out is read again, the memory never grows with the request rate."""
    _, clock, directory, one, _ = world
    directory.add("alice")
    bounded = SessionAuthenticator(
        one.store, one.revalidator, idle_seconds=IDLE, max_seconds=MAX, max_size=4, clock=clock
    )

    def refused(secret: str) -> str:
        with pytest.raises(InvalidCredentials) as refusal:
            bounded.authenticate(secret, "10.0.0.1")
        return refusal.value.reason

    stranger = secret_format.new_secret()
    assert refused(stranger) == refused(stranger) == reasons.UNKNOWN_SESSION
    assert one.store.lookups == 1
    for _ in range(10):
        refused(secret_format.new_secret())
    assert one.store.lookups == 11
    assert refused(stranger) == reasons.UNKNOWN_SESSION
    assert one.store.lookups == 12  # pushed out by the flood, so read again

    ended_secrets = [sign_in(one, directory, "alice") for _ in range(6)]
    for secret in ended_secrets:
        one.sessions.sign_out(secret, None)
        assert refused(secret) == reasons.ENDED_SESSION
    lookups = one.store.lookups
    assert refused(ended_secrets[-1]) == reasons.ENDED_SESSION
    assert one.store.lookups == lookups  # remembered
    assert refused(ended_secrets[0]) == reasons.ENDED_SESSION
    assert one.store.lookups == lookups + 1  # pushed out by the five after it
