"""Who may list and end which sessions (``sessions.service``), on a real SQLite database
with a fake clock; the ends go through ``SessionAuthenticator`` (its audit lines)."""

from __future__ import annotations

import pytest
from fakes import Clock, plugin_engine

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth import audit
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import Forbidden, InvalidRequest, NotFound
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.secret_format import new_secret, secret_hash
from mlflow_ldap_auth.sessions.service import SessionService
from mlflow_ldap_auth.sessions.store import SessionStore

IDLE = 8 * 3600
MAX = 7 * 86_400
ALICE = Principal("alice", False, method="password")
BOB = Principal("bob", False, method="password")
CAROL = Principal("carol", False, method="password")  # an admin (``is_admin`` below)


class CountingStore(SessionStore):
    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.hash_lookups = 0

    def by_hash(self, digest):
        self.hash_lookups += 1
        return super().by_hash(digest)


class World:
    def __init__(self, tmp_path) -> None:
        self.clock = Clock()
        self.store = CountingStore(plugin_engine(tmp_path))
        # Listing and ending never ask the revalidator (the command line has none).
        sessions = SessionAuthenticator(
            self.store, None, idle_seconds=IDLE, max_seconds=MAX, clock=self.clock
        )
        self.service = SessionService(
            self.store, sessions, is_admin=lambda name: name == "carol", clock=self.clock
        )

    def sign_in(self, owner: str, ago: int = 0) -> tuple[str, str]:
        record, secret = self.store.create(
            owner,
            source="192.0.2.1",
            password_marker=None,
            now=int(self.clock()) - ago,
            max_seconds=MAX,
        )
        return record.id, secret

    def ended(self, session_id: str):
        record = self.store.by_id(session_id)
        return None if record.ended_at is None else (record.ended_reason, record.ended_by)


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


@pytest.fixture
def audited():
    records: list[dict] = []
    audit.add_sink(records.append)
    yield records
    audit.remove_sink(records.append)


def ids(records) -> list[str]:
    return [record.id for record in records]


def test_a_list_shows_the_live_sessions_newest_first(world):
    old, _ = world.sign_in("alice", ago=600)
    new, _ = world.sign_in("alice", ago=60)
    idle, _ = world.sign_in("alice", ago=IDLE + 1)
    gone, _ = world.sign_in("alice")
    world.service.end(ALICE, gone, None)
    world.sign_in("bob")
    assert ids(world.service.list(ALICE)) == [new, old]
    assert idle not in ids(world.service.list(CAROL, everyone=True))
    world.clock.now += IDLE - 600 + 1  # ``old`` idles out; ``new`` is still live
    assert ids(world.service.list(ALICE)) == [new]


def test_lists_come_in_pages(world):
    made = [world.sign_in("pager", ago=i)[0] for i in range(7)]
    first, token = world.service.page(CAROL, user="pager", max_results=3)
    second, token = world.service.page(CAROL, user="pager", page_token=token, max_results=3)
    third, token = world.service.page(CAROL, user="pager", page_token=token, max_results=3)
    assert ids(first + second + third) == made and token is None
    with pytest.raises(InvalidRequest, match="'page_token'"):
        world.service.page(ALICE, page_token="bm9wZQ")


def test_only_admins_see_other_peoples_sessions(world):
    alices, _ = world.sign_in("alice")
    for asked in ({"user": "alice"}, {"everyone": True}):
        with pytest.raises(Forbidden):
            world.service.list(BOB, **asked)
    assert ids(world.service.list(ALICE, user=" ALICE")) == [alices]  # one's own, any case
    assert ids(world.service.list(CAROL, user="Alice")) == [alices]
    assert world.service.visible(BOB, alices) is None
    assert world.service.visible(CAROL, alices).owner == "alice"
    assert world.service.visible(ALICE, None) is None


def test_ending_says_who_ended_it_and_how(world, audited):
    alices, _ = world.sign_in("alice")
    bobs, _ = world.sign_in("bob")
    carols, _ = world.sign_in("carol")
    # Another user's session is no session, to a non-admin: nothing ends.
    with pytest.raises(NotFound):
        world.service.end(BOB, alices, None)
    assert world.ended(alices) is None and audited == []
    assert world.service.end(ALICE, alices, "192.0.2.9").id == alices
    assert world.service.end(CAROL, bobs, None).id == bobs
    assert world.service.end(CAROL, carols, None).id == carols  # an admin's own
    assert world.ended(alices) == (reasons.ENDED_BY_USER, "alice")
    assert world.ended(bobs) == (reasons.ENDED_BY_ADMIN, "carol")
    assert world.ended(carols) == (reasons.ENDED_BY_USER, "carol")
    assert [(r["event"], r["user"], r["reason"], r["by"]) for r in audited] == [
        (reasons.SESSION_ENDED, "alice", reasons.ENDED_BY_USER, "alice"),
        (reasons.SESSION_ENDED, "bob", reasons.ENDED_BY_ADMIN, "carol"),
        (reasons.SESSION_ENDED, "carol", reasons.ENDED_BY_USER, "carol"),
    ]
    # Ending it again answers it as it is, and writes no second line.
    assert world.service.end(ALICE, alices, None).ended_reason == reasons.ENDED_BY_USER
    assert len(audited) == 3


def test_ending_all_of_a_user(world, audited):
    here, here_secret = world.sign_in("alice")
    other, _ = world.sign_in("alice")
    bobs, _ = world.sign_in("bob")
    with pytest.raises(Forbidden):
        world.service.end_all(BOB, "alice", None)
    for nobody in (None, "", "  "):
        with pytest.raises(InvalidRequest, match="'user'"):
            world.service.end_all(ALICE, nobody, None)
    keep = world.service.current_id(here_secret)
    assert keep == here
    assert ids(world.service.end_all(ALICE, "alice", None, keep=keep)) == [other]
    assert world.ended(here) is None and world.ended(bobs) is None
    assert ids(world.service.end_all(CAROL, "ALICE", None)) == [here]
    assert world.ended(here) == (reasons.ENDED_BY_ADMIN, "carol")
    assert [r["session_id"] for r in audited] == [other, here]


def test_the_current_session_is_found_by_its_secrets_hash_only(world):
    session_id, secret = world.sign_in("alice")
    assert world.service.current_id(secret) == session_id
    lookups = world.store.hash_lookups
    for not_a_session in (None, "", "mldap_session_short", "x" * 4096):
        assert world.service.current_id(not_a_session) is None
    assert world.store.hash_lookups == lookups  # no query for what is no secret
    assert world.service.current_id(new_secret()) is None
    world.service.end(ALICE, session_id, None)
    assert world.service.current_id(secret) is None
    # The list never holds the secret, nor the hash the database keeps.
    shown = str([record.to_json() for record in world.service.list(CAROL, everyone=True)])
    assert secret not in shown and secret_hash(secret) not in shown
