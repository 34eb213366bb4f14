"""The session store on real SQLite and PostgreSQL databases: its queries, its migration,
and two workers (two engines, two authenticators) on one database, where ending and
touching at the same moment never bring a session back, and a sign-out, an end by
handle or of all a user's sessions on one is refused at once on the other. The read of
every request (``DirectRead``, on an engine of its own): no checkout from the plugin's
engine, no transaction or lock held between requests, served again by the first request
after the database restarted or dropped its connections, its connections closed with
the plugin's engine, and left to the parent in a forked child."""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid

import pytest
import sqlalchemy as sa
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
from postgres import _as_postgres, _bin, other_connections
from servers import wait_until

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


def test_ending_by_handle_or_all_on_one_worker_is_refused_at_once_on_another(engines):
    directory = Directory()
    one, two = worker(engines[0], directory), worker(engines[1], directory)
    by_handle, alice = one.sign_in("alice", None, "1")
    _, alice_too = one.sign_in("alice", None, "1")
    _, bob = one.sign_in("bob", None, "1")
    for secret in (alice, alice_too, bob):
        two.authenticate(secret, None)
    assert one.end(by_handle.id, "alice", reasons.ENDED_BY_USER, None) is not None
    assert reason(two, alice) == reasons.ENDED_SESSION
    assert two.authenticate(alice_too, None).username == "alice"
    assert len(one.end_all("alice", "root", reasons.ENDED_BY_ADMIN, None)) == 1
    assert reason(two, alice_too) == reasons.ENDED_SESSION
    assert two.authenticate(bob, None).username == "bob"


def reason(sessions: SessionAuthenticator, secret: str) -> str:
    with pytest.raises(InvalidCredentials) as refused:
        sessions.authenticate(secret, None)
    return refused.value.reason


def kept(store: SessionStore) -> int:
    """Connections the read engine's pool keeps between reads now."""
    return store._by_hash.engine.pool.checkedin()


def checkouts(engine) -> list:
    """Every connection the engine's pool hands out from now on."""
    taken: list = []
    sa.event.listen(engine, "checkout", lambda *_: taken.append(1))
    return taken


def test_a_warm_check_takes_no_connection_from_the_pool(engines):
    """The session's row is read on the read engine's connections, without the plugin
    engine's checkout, ping and rollback (three round trips on PostgreSQL, one now)."""
    sessions = worker(engines[0], Directory())
    _, secret = sessions.sign_in("alice", None, "1")
    sessions.authenticate(secret, None)
    taken = checkouts(engines[0])
    for _ in range(20):
        assert sessions.authenticate(secret, None).username == "alice"
    assert taken == []
    assert kept(sessions._store) == 1  # one thread, one connection


def test_reads_hold_no_transaction_or_lock_between_requests(engines, database_uri):
    """A read engine's connection is idle: SQLite's writers do not wait for it, PostgreSQL has no
    transaction open on it (vacuum and schema changes are not held up)."""
    sessions = worker(engines[1], Directory())
    _, secret = sessions.sign_in("alice", None, "1")
    for _ in range(3):
        sessions.authenticate(secret, None)
    url = sa.engine.make_url(database_uri)
    if url.get_backend_name() == "sqlite":
        writer = sqlite3.connect(url.database, timeout=0)  # no waiting for a lock
        with writer:
            writer.execute("UPDATE ldap_auth_sessions SET source = 'written'")
        writer.close()
        return
    with engines[0].connect() as connection:
        open_transactions = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            )
        ).scalar()
    assert open_transactions == 0


def test_disposing_the_engine_closes_the_read_engines_connections(postgres):
    uri = postgres.create_database(f"sessions_{uuid.uuid4().hex[:12]}")
    engine, watcher = tables.create_engine(uri), tables.create_engine(uri)
    tables.migrate(engine)
    sessions = worker(engine, Directory())
    _, secret = sessions.sign_in("alice", None, "1")
    sessions.authenticate(secret, None)
    assert kept(sessions._store) == 1
    engine.dispose()
    assert kept(sessions._store) == 0
    assert wait_until(lambda: other_connections(watcher) == 0, "the database still has connections")
    watcher.dispose()


def test_a_restarted_database_is_served_again_and_still_ends_at_once(postgres):
    """While PostgreSQL is down a session check fails as any query does (nothing is
    answered from memory); the first request after it is back is served (the kept
    connections are dead: they are dropped and the engine reconnects), and a sign-out
    on one worker is refused at once on the other again."""
    uri = postgres.create_database(f"sessions_{uuid.uuid4().hex[:12]}")
    engines = tables.create_engine(uri), tables.create_engine(uri)
    tables.migrate(engines[0])
    directory = Directory()
    one, two = worker(engines[0], directory), worker(engines[1], directory)
    _, alice = one.sign_in("alice", None, "1")
    _, bob = one.sign_in("bob", None, "1")
    for sessions in (one, two):
        sessions.authenticate(alice, None)
        sessions.authenticate(bob, None)
    pg_ctl = (_bin("pg_ctl"), "-D", str(postgres.data))
    _as_postgres(*pg_ctl, "-m", "fast", "-w", "stop")
    try:
        with pytest.raises(sa.exc.OperationalError):
            two.authenticate(alice, None)
    finally:
        options = (
            f"-p {postgres.port} -k {postgres.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        )
        _as_postgres(
            *pg_ctl, "-o", options, "-l", str(postgres.directory / "pg.log"), "-w", "start"
        )
    assert two.authenticate(alice, None).username == "alice"
    assert one.sign_out(alice, None) is not None
    assert reason(two, alice) == reasons.ENDED_SESSION
    assert two.authenticate(bob, None).username == "bob"
    for engine in engines:
        engine.dispose()


def test_an_in_memory_database_is_read_through_the_engine():
    """One in-memory SQLite database lives in one connection: no other may read it."""
    engine = tables.create_engine("sqlite://")
    tables.migrate(engine)
    store = SessionStore(engine)
    record, secret = store.create(
        "alice", source=None, password_marker=None, now=NOW, max_seconds=MAX
    )
    assert store.by_hash(secret_hash(secret)) == record
    assert store._by_hash.engine is None
    engine.dispose()


def test_dropped_connections_are_replaced_and_the_read_engine_serves_again(postgres):
    """PostgreSQL ends the read engine's connections (a restart, a failover): the next
    check is served through the plugin's engine, the dead connections are dropped, the
    idle ones with the one that failed, and the checks after it read on the read engine
    again."""
    uri = postgres.create_database(f"sessions_{uuid.uuid4().hex[:12]}")
    engine, killer = tables.create_engine(uri), tables.create_engine(uri)
    tables.migrate(engine)
    sessions = worker(engine, Directory())
    _, secret = sessions.sign_in("alice", None, "1")
    sessions.authenticate(secret, None)
    engine.dispose()  # only the read engine's connections are left
    read_engine = sessions._store._by_hash.engine
    held = [read_engine.raw_connection() for _ in range(2)]
    for connection in held:
        connection.close()
    assert kept(sessions._store) == 2
    with killer.connect() as connection:
        ended = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    assert ended == 2
    assert wait_until(lambda: other_connections(killer) == 0, "the connection was not ended")
    taken = checkouts(engine)
    assert sessions.authenticate(secret, None).username == "alice"
    assert len(taken) == 1  # read through the plugin's engine
    for _ in range(3):
        assert sessions.authenticate(secret, None).username == "alice"
    assert len(taken) == 1  # the read engine connected anew, not to the other dead one
    engine.dispose()
    killer.dispose()


def test_a_forked_child_leaves_the_parents_connections_alone(engines):
    """A child that disposes the plugin's engine as SQLAlchemy's docs say for a fork
    (``close=False``) drops the read engine's inherited connections without closing them
    (one socket used by two processes answers neither) and opens its own, which a later
    dispose in the child closes; the parent reads on its own connection still, without
    falling back to its engine."""
    store = SessionStore(engines[0])
    record, secret = store.create(
        "alice", source=None, password_marker=None, now=NOW, max_seconds=MAX
    )
    assert store.by_hash(secret_hash(secret)) == record
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            engines[0].dispose(close=False)
            inherited = kept(store)
            found = store.by_hash(secret_hash(secret)) == record
            own = store._by_hash.engine.raw_connection()
            driver_connection = own.dbapi_connection
            own.close()
            engines[0].dispose()  # now the child's own connections are closed
            try:
                driver_connection.cursor()
                closed = False
            except Exception:
                closed = True
            os.write(write, b"%d %d %d" % (inherited, found, closed))
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    answer = os.read(read, 64).split()
    os.close(read)
    assert answer == [b"0", b"1", b"1"]
    assert kept(store) == 1
    taken = checkouts(engines[0])
    assert store.by_hash(secret_hash(secret)) == record
    assert taken == []
