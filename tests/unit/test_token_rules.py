"""The token rules (``tokens.service``) and the request-time check (``tokens.authenticator``)
on a real SQLite database, with a fake owner standing and a fake clock."""

from __future__ import annotations

import pytest
from fakes import Clock, plugin_engine

from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import DirectoryUnavailable, DomainError, InvalidCredentials
from mlflow_ldap_auth.tokens import service as token_service
from mlflow_ldap_auth.tokens.authenticator import RECORD_TTL_SECONDS, TokenAuthenticator
from mlflow_ldap_auth.tokens.service import TokenService, check_days, check_name
from mlflow_ldap_auth.tokens.store import TokenStore

ALICE = Principal("alice", False, dn="uid=alice", method="password")
BOB = Principal("bob", False, dn="uid=bob", method="password")
ROOT = Principal("root", False, dn="uid=root", method="password")


class Standing:
    """The owner's standing as the revalidator would say it."""

    def __init__(self) -> None:
        self.verdicts: dict[str, str | None] = {}
        self.down = False
        self.noted: list[str] = []

    def token_verdict(self, username: str) -> str | None:
        if self.down:
            raise DirectoryUnavailable("down", reason="outage_grace_over")
        return self.verdicts.get(username)

    def known_usable(self, username: str) -> bool:
        return not self.down and self.verdicts.get(username) is None

    def note_credential_use(self, username: str) -> None:
        self.noted.append(username)


class CountingStore(TokenStore):
    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.lookups = 0
        self.touches = 0

    def by_hash(self, secret_hash):
        self.lookups += 1
        return super().by_hash(secret_hash)

    def touch(self, token_id, now):
        self.touches += 1
        super().touch(token_id, now)


@pytest.fixture
def world(tmp_path):
    engine = plugin_engine(tmp_path)
    clock, standing = Clock(), Standing()
    store = CountingStore(engine)
    forgotten = []
    authenticator = TokenAuthenticator(
        store, standing, lambda a, b: a.casefold() == b.casefold(), clock=clock
    )
    service = TokenService(
        store,
        max_days=30,
        is_admin=lambda name: name == "root",
        forget_cached=lambda: (forgotten.append(1), authenticator.forget()),
        clock=clock,
    )

    class World:
        pass

    w = World()
    w.clock, w.standing, w.store, w.service, w.auth, w.forgotten = (
        clock,
        standing,
        store,
        service,
        authenticator,
        forgotten,
    )
    return w


@pytest.mark.parametrize("name", [None, "", "   ", 5, "x" * 101, "a\tb", "a\x7fb"])
def test_bad_names(name):
    with pytest.raises(DomainError) as info:
        check_name(name)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_names_are_trimmed():
    assert check_name("  ci  ") == "ci"


@pytest.mark.parametrize("days", [None, 0, -1, 31, 1.5, True, "x", "٣", [], "1e3"])
def test_bad_lifetimes(days):
    with pytest.raises(DomainError):
        check_days(days, 30)


@pytest.mark.parametrize(("days", "expected"), [(1, 1), (30, 30), ("7", 7), (" 7 ", 7)])
def test_good_lifetimes(days, expected):
    assert check_days(days, 30) == expected


def test_only_a_password_login_creates_tokens(world):
    token = Principal("alice", False, method="token", token_id="t")
    with pytest.raises(DomainError) as info:
        world.service.create(token, "ci", 1, None)
    assert info.value.error_code == "PERMISSION_DENIED"
    local = Principal("admin", True, method="local_admin")
    with pytest.raises(DomainError):
        world.service.create(local, "ci", 1, None)
    record, secret = world.service.create(ALICE, "ci", 1, None)
    assert record.owner == "alice" and record.expires_at == record.created_at + 86_400
    assert world.store.by_hash(secret) is None  # stored by hash, not by secret


def test_a_user_has_at_most_max_active_tokens(world, monkeypatch):
    monkeypatch.setattr(token_service, "MAX_ACTIVE_TOKENS", 3)
    made = [world.service.create(ALICE, f"t{i}", 1, None)[0] for i in range(3)]
    with pytest.raises(DomainError):
        world.service.create(ALICE, "t3", 1, None)
    world.service.revoke(ALICE, made[0].id, None)
    world.service.create(ALICE, "t3", 1, None)  # a revoked one no longer counts
    world.service.create(BOB, "other", 1, None)  # per user


def test_creations_per_minute_and_per_day_are_limited_revoked_ones_included(world):
    for i in range(20):
        record, _ = world.service.create(ALICE, f"t{i}", 1, None)
        world.service.revoke(ALICE, record.id, None)
    with pytest.raises(token_service.CreationRateExceeded) as info:
        world.service.create(ALICE, "one-too-many", 1, None)
    assert info.value.error_code == "RESOURCE_EXHAUSTED"
    assert info.value.retry_after == 60
    world.service.create(BOB, "other", 1, None)  # per user
    world.clock.now += 61
    world.service.create(ALICE, "a-minute-later", 1, None)
    for i in range(179):  # 200 a day
        world.clock.now += 3
        world.service.create(ALICE, f"d{i}", 1, None)
        world.service.revoke(ALICE, world.store.list("alice")[0].id, None)
    world.clock.now += 61
    with pytest.raises(token_service.CreationRateExceeded) as info:
        world.service.create(ALICE, "tomorrow", 1, None)
    assert 86_400 - 700 < info.value.retry_after < 86_400


def test_revoke_rules(world):
    record, _ = world.service.create(ALICE, "ci", 1, None)
    for requester, token_id in [(BOB, record.id), (ALICE, "missing"), (ALICE, None)]:
        with pytest.raises(DomainError) as info:
            world.service.revoke(requester, token_id, None)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    revoked = world.service.revoke(ROOT, record.id, None)
    assert revoked.revoked_at == int(world.clock.now) and revoked.revoked_by == "root"
    assert world.forgotten == [1]
    again = world.service.revoke(ALICE, record.id, None)  # idempotent
    assert again == revoked and world.forgotten == [1]


def test_a_token_purged_while_it_is_revoked_is_no_token(world, monkeypatch):
    """The purge of ended tokens may delete one between the visibility check and the
    write: the answer is "no such token", as for one purged just before."""
    record, _ = world.service.create(ALICE, "ci", 1, None)

    def purged_first(token_id, by, now):
        world.store.purge_ended(record.expires_at + 1)
        return TokenStore.revoke(world.store, token_id, by, now)

    monkeypatch.setattr(world.store, "revoke", purged_first)
    with pytest.raises(DomainError) as info:
        world.service.revoke(ALICE, record.id, None)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_listing_rules(world):
    world.service.create(ALICE, "a", 1, None)
    world.service.create(BOB, "b", 1, None)
    assert {r.owner for r in world.service.list(ALICE)} == {"alice"}
    assert {r.owner for r in world.service.list(ALICE, user="alice")} == {"alice"}
    for kwargs in ({"user": "bob"}, {"everyone": True}):
        with pytest.raises(DomainError) as info:
            world.service.list(ALICE, **kwargs)
        assert info.value.error_code == "PERMISSION_DENIED"
    assert {r.owner for r in world.service.list(ROOT, everyone=True)} == {"alice", "bob"}
    assert {r.owner for r in world.service.list(ROOT, user="bob")} == {"bob"}


def test_a_warm_token_costs_no_database_query(world):
    _, secret = world.service.create(ALICE, "ci", 1, None)
    first = world.auth.authenticate(secret, None, None)
    assert (first.username, first.method) == ("alice", "token")
    for _ in range(100):
        assert world.auth.authenticate(secret, "ALICE", None).username == "alice"
    assert world.store.lookups == 1 and world.store.touches == 1
    assert world.auth.peek(secret, None) == first  # memory alone answers too
    world.clock.now += RECORD_TTL_SECONDS + 0.1
    assert world.auth.peek(secret, None) is None  # memory is over: go and read
    world.auth.authenticate(secret, None, None)
    assert world.store.lookups == 2


def test_an_unknown_secret_is_remembered_and_costs_one_query(world):
    _, secret = world.service.create(ALICE, "ci", 1, None)
    world.service.revoke(ALICE, world.store.list("alice")[0].id, None)
    from mlflow_ldap_auth.tokens.secret_format import new_secret

    stranger = new_secret()
    for _ in range(20):
        with pytest.raises(InvalidCredentials) as info:
            world.auth.authenticate(stranger, None, None)
        assert info.value.reason == "unknown_token"
    assert world.store.lookups == 1
    with pytest.raises(InvalidCredentials) as info:
        world.auth.authenticate(secret, None, None)
    assert info.value.reason == "revoked"


def test_a_malformed_secret_never_reaches_the_database(world):
    for text in ["mldap_" + "0" * 49, "mldap_short", "x"]:
        with pytest.raises(InvalidCredentials) as info:
            world.auth.authenticate(text, None, None)
        assert info.value.reason == "malformed_token"
    assert world.store.lookups == 0


def test_refusals_in_order(world):
    _, secret = world.service.create(ALICE, "ci", 1, None)
    with pytest.raises(InvalidCredentials) as info:
        world.auth.authenticate(secret, "bob", None)
    assert info.value.reason == "wrong_owner"
    world.standing.verdicts["alice"] = "owner_disabled"
    with pytest.raises(InvalidCredentials) as info:
        world.auth.authenticate(secret, None, None)
    assert info.value.reason == "owner_disabled"
    assert world.auth.peek(secret, None) is None
    world.standing.verdicts.clear()
    world.standing.down = True
    with pytest.raises(DirectoryUnavailable):
        world.auth.authenticate(secret, None, None)
    world.standing.down = False
    world.clock.now += 86_400
    world.auth.forget()
    with pytest.raises(InvalidCredentials) as info:
        world.auth.authenticate(secret, None, None)
    assert info.value.reason == "expired"


def test_last_used_is_written_at_most_once_a_minute(world):
    record, secret = world.service.create(ALICE, "ci", 1, None)
    world.auth.authenticate(secret, None, None)
    used = world.store.by_id(record.id).last_used_at
    assert used == int(world.clock.now)
    world.clock.now += 30
    world.auth.forget()
    world.auth.authenticate(secret, None, None)
    assert world.store.by_id(record.id).last_used_at == used
    world.clock.now += 31
    world.auth.forget()
    world.auth.authenticate(secret, None, None)
    assert world.store.by_id(record.id).last_used_at == int(world.clock.now)


def test_the_memory_of_tokens_is_bounded_by_max_size(world):
    """A flood of made-up secrets fills the memory up to ``max_size`` and no further:
    what it pushes out is read again, the memory never grows with the request rate."""
    from mlflow_ldap_auth.tokens.secret_format import new_secret

    bounded = TokenAuthenticator(
        world.store, world.standing, lambda a, b: a == b, max_size=4, clock=world.clock
    )
    _, secret = world.service.create(ALICE, "ci", 1, None)
    bounded.authenticate(secret, None, None)
    bounded.authenticate(secret, None, None)
    assert world.store.lookups == 1
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            bounded.authenticate(new_secret(), None, None)
    assert world.store.lookups == 11
    assert bounded.peek(secret, None) is None  # pushed out by the flood
    assert bounded.authenticate(secret, None, None).username == "alice"
    assert world.store.lookups == 12
