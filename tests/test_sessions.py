"""The session store on real SQLite and PostgreSQL databases: its queries, its migration,
and two workers (two engines, two authenticators) on one database, where ending and
touching at the same moment never bring a session back, and a sign-out on one is
refused at once on the other."""

from __future__ import annotations

import threading
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.admission import Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.db.paging import parse_page_token
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap.account_state import AccountState
from mlflow_ldap_auth.ldap.entries import DirectoryUser
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.secret_format import secret_hash
from mlflow_ldap_auth.sessions.store import LAST_SEEN_RESOLUTION_SECONDS, SessionStore

NOW = 1_800_000_000
IDLE = 8 * 3600
MAX = 7 * 86_400


@pytest.fixture(params=["sqlite", "postgresql"])
def database_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.db"
    name = f"sessions_{uuid.uuid4().hex[:12]}"
    return request.getfixturevalue("postgres").create_database(name)


@pytest.fixture
def engines(database_uri):
    """Two engines on one migrated database: two workers."""
    one, two = tables.create_engine(database_uri), tables.create_engine(database_uri)
    tables.migrate(one)
    yield one, two
    one.dispose()
    two.dispose()


def test_the_migration_builds_the_declared_tables(engines):
    one, _ = engines
    tables.migrate(one)  # idempotent
    with one.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": tables.VERSION_TABLE}
        )
        assert compare_metadata(context, tables.metadata) == []


def test_create_read_list_end_and_purge(engines):
    store = SessionStore(engines[0])
    made = [
        store.create(owner, source="10.0.0.1", password_marker="m", now=NOW + i, max_seconds=MAX)
        for i, owner in enumerate(["alice", "bob", "alice", "alice"])
    ]
    first, secret = made[0]
    assert store.by_hash(secret_hash(secret)) == first
    assert store.by_id(first.id) == first
    assert first.id not in secret and secret_hash(secret) != first.id
    assert first.to_json() == {
        "id": first.id,
        "user": "alice",
        "created": "2027-01-15T08:00:00Z",
        "last_seen": "2027-01-15T08:00:00Z",
        "source": "10.0.0.1",
    }
    page, token = store.page("ALICE", now=NOW + 10, idle_seconds=IDLE, size=2)
    assert [r.id for r in page] == [made[3][0].id, made[2][0].id]  # newest first
    rest, end = store.page("alice", now=NOW + 10, idle_seconds=IDLE, after=parse_page_token(token))
    assert [r.id for r in rest] == [first.id] and end is None
    everyone, _ = store.page(None, now=NOW + 10, idle_seconds=IDLE)
    assert len(everyone) == 4

    assert store.end(first.id, reasons.LOGOUT, "alice", NOW + 20)
    assert not store.end(first.id, reasons.ENDED_BY_ADMIN, "root", NOW + 21)  # first wins
    ended = store.by_id(first.id)
    assert (ended.ended_at, ended.ended_reason, ended.ended_by) == (NOW + 20, "logout", "alice")
    ended_all = store.end_all("Alice", reasons.ENDED_BY_ADMIN, "root", NOW + 30)
    assert sorted(r.id for r in ended_all) == sorted([made[2][0].id, made[3][0].id])
    assert store.end_all("alice", reasons.ENDED_BY_ADMIN, "root", NOW + 31) == []
    assert [r.owner for r in store.page(None, now=NOW + 40, idle_seconds=IDLE)[0]] == ["bob"]
    # Idle or expired sessions are no longer listed, though no request ended them.
    assert store.page(None, now=NOW + 1 + IDLE + 1, idle_seconds=IDLE)[0] == []

    assert store.purge(NOW + 25, IDLE) == 1  # the one ended at NOW + 20
    assert store.purge(NOW + 1 + IDLE + 1, IDLE) == 3  # ended at NOW + 30; bob idle
    assert store.page(None, now=NOW, idle_seconds=IDLE)[0] == []


def test_touch_writes_last_seen_at_most_once_per_resolution(engines):
    store = SessionStore(engines[0])
    record, _ = store.create("alice", source=None, password_marker=None, now=NOW, max_seconds=MAX)
    assert not store.touch(record.id, NOW + LAST_SEEN_RESOLUTION_SECONDS - 1)
    assert store.touch(record.id, NOW + LAST_SEEN_RESOLUTION_SECONDS)
    assert store.by_id(record.id).last_seen_at == NOW + LAST_SEEN_RESOLUTION_SECONDS
    store.end(record.id, reasons.LOGOUT, "alice", NOW + 200)
    assert not store.touch(record.id, NOW + 300)  # an ended session is never touched


def test_ending_while_another_worker_touches_never_resurrects(engines):
    """Worker two touches the session as fast as it can while worker one ends it: no
    touch that starts after the end writes anything, and the end stays, with its reason,
    whatever order the database gave them."""
    one, two = SessionStore(engines[0]), SessionStore(engines[1])
    for round_ in range(3):
        record, _ = one.create("alice", source=None, password_marker=None, now=NOW, max_seconds=MAX)
        state = {"after_end": 0, "written_after_end": 0}
        started, ended_here, enough = threading.Event(), threading.Event(), threading.Event()

        def touching(
            record_id=record.id, state=state, started=started, ended_here=ended_here, enough=enough
        ):
            now = NOW
            while not enough.is_set():
                now += LAST_SEEN_RESOLUTION_SECONDS
                after_end = ended_here.is_set()
                written = two.touch(record_id, now)
                started.set()
                if after_end:
                    state["after_end"] += 1
                    state["written_after_end"] += written
                    if state["after_end"] >= 20:
                        enough.set()

        thread = threading.Thread(target=touching)
        thread.start()
        assert started.wait(30)
        assert one.end(record.id, reasons.LOGOUT, "alice", NOW + round_)
        seen_at_end = one.by_id(record.id).last_seen_at
        ended_here.set()
        assert enough.wait(60)
        thread.join(30)
        final = two.by_id(record.id)
        assert (final.ended_at, final.ended_reason) == (NOW + round_, reasons.LOGOUT)
        assert final.last_seen_at == seen_at_end
        assert state["written_after_end"] == 0


class Directory:
    def __init__(self) -> None:
        self.entries = {
            name: DirectoryUser(f"uid={name}", name, account=AccountState("ok", "1"))
            for name in ("alice", "bob")
        }

    def lookup(self, username):
        return self.entries.get(username)


class Admission:
    def admit(self, user, source):
        return Admitted(is_admin=False, changed=False)


def worker(engine, directory) -> SessionAuthenticator:
    revalidator = Revalidator(
        interval_seconds=300,
        grace_seconds=3600,
        lookup=directory.lookup,
        checks=UserChecks(engine),
        admission=Admission(),
        cache=CredentialCache(3600, 100, 30, remember_refusal=lambda e: True),
        is_directory_user=lambda p: p.method == "password",
    )
    for user in directory.entries.values():
        revalidator.record_login(user)
    return SessionAuthenticator(
        SessionStore(engine), revalidator, idle_seconds=IDLE, max_seconds=MAX
    )


def test_sign_out_on_one_worker_is_refused_at_once_on_another(engines):
    directory = Directory()
    one, two = worker(engines[0], directory), worker(engines[1], directory)
    _, alice = one.sign_in("alice", "10.0.0.1", "1")
    _, bob = one.sign_in("bob", "10.0.0.2", "1")
    for _ in range(3):  # warm: both have served both sessions
        assert two.authenticate(alice, None).username == "alice"
        assert two.authenticate(bob, None).username == "bob"
    assert one.sign_out(alice, "10.0.0.1") is not None
    with pytest.raises(InvalidCredentials) as refused:
        two.authenticate(alice, None)
    assert refused.value.reason == reasons.ENDED_SESSION
    assert two.authenticate(bob, None).username == "bob"
