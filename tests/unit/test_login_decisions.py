"""Login decisions (``LoginService``) with an in-memory directory and stores.

Settings come from an INI file through ``load_settings``, as on a server. The fake
directory accepts every trap login below with the same password, so a refusal can
only come from the rule under test, and its call counter shows whether the directory
was asked at all.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from dataclasses import dataclass

import pytest
from fakes import (
    BASE,
    FakeDirectory,
    Tripwire,
    directory_user,
    group_dn,
    make_backend,
    unavailable,
)

from mlflow_ldap_auth.auth.access import managed_role_name
from mlflow_ldap_auth.auth.access_policy import AccessPolicy, ConfiguredGroups
from mlflow_ldap_auth.auth.group_sync import GroupSync
from mlflow_ldap_auth.auth.lockout import THROTTLED
from mlflow_ldap_auth.auth.login import LEGACY_DEFAULT_ADMIN_PASSWORD, LoginService
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.config import load_settings
from mlflow_ldap_auth.errors import (
    AuthError,
    DirectoryUnavailable,
    InvalidCredentials,
    NotAllowed,
)
from mlflow_ldap_auth.web.credentials import parse_authorization

ADMIN_PASSWORD = "break-glass-password-1"
PASSWORD = "alice-directory-password"
ADMINS_UUID = "u-admins"
USERS_UUID = "u-users"


@pytest.fixture(autouse=True)
def _no_admin_overrides(monkeypatch):
    # MLflow's own environment overrides of the break-glass account would win over the file.
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)


def write_settings(tmp_path, mlflow: dict, ldap: dict):
    lines = ["[mlflow]"] + [f"{key} = {value}" for key, value in mlflow.items()]
    lines += [
        "[ldap]",
        "server_uri = ldap://127.0.0.1:3389",
        f"user_search_base = ou=people,{BASE}",
        f"group_search_base = ou=groups,{BASE}",
    ] + [f"{key} = {value}" for key, value in ldap.items()]
    path = tmp_path / "ldap_auth.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(str(path), environ={})


@dataclass
class World:
    service: LoginService
    directory: FakeDirectory
    store: object
    groups: object
    accounts: object

    def login(self, login, password=PASSWORD):
        return self.service.login(login, password, source="203.0.113.7")

    def refusal(self, login, password=PASSWORD) -> AuthError:
        with pytest.raises(AuthError) as raised:
            self.login(login, password)
        return raised.value

    @property
    def binds(self) -> int:
        return self.directory.calls["authenticate"]


def make_world(tmp_path, backend="fake", lockout=None, mlflow=None, **ldap) -> World:
    settings = write_settings(tmp_path, {"admin_username": "admin", **(mlflow or {})}, ldap)
    parts = make_backend(backend, tmp_path)
    directory = FakeDirectory()
    directory.add_group(group_dn("mlflow-admins"), ADMINS_UUID, "mlflow-admins")
    directory.add_group(group_dn("mlflow-users"), USERS_UUID, "mlflow-users")
    policy = AccessPolicy(
        ConfiguredGroups(settings.ldap.admin_group_dns, settings.ldap.allowed_group_dns, directory),
        parts.groups,
    )
    sync = GroupSync(
        parts.store, parts.groups, policy, break_glass_name=settings.mlflow.admin_username
    )
    service = LoginService(settings, directory, parts.store, sync, parts.accounts, lockout=lockout)
    return World(service, directory, parts.store, parts.groups, parts.accounts)


@pytest.fixture
def world(tmp_path):
    world = make_world(tmp_path)
    world.store.create_user("admin", ADMIN_PASSWORD, is_admin=True)
    world.directory.add_user("alice", PASSWORD, directory_user("alice"))
    return world


def basic(login, password):
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


# -- refused before anything is asked -------------------------------------------------


@pytest.mark.parametrize("login", ["alice", "admin", "ADMIN"])
def test_an_empty_password_is_refused_without_asking_anyone(world, login):
    error = world.refusal(login, "")
    assert isinstance(error, InvalidCredentials)
    assert error.reason == "empty_password"
    assert not world.directory.calls
    assert world.store.calls["authenticate_user"] == 0


@pytest.mark.parametrize(
    "login",
    [
        "ali\u200bce",  # ZERO WIDTH SPACE
        "\u200balice",
        "alice\u200d",  # ZERO WIDTH JOINER
        "\ufeffalice",  # ZERO WIDTH NO-BREAK SPACE (BOM)
        "al\u00adice",  # SOFT HYPHEN
        "\u2066alice\u2069",  # bidirectional isolates
        "ad\u200bmin",  # a break-glass look-alike too
    ],
)
def test_invisible_format_characters_are_refused(world, login):
    world.directory.add_user(login, PASSWORD, directory_user("alice"))
    error = world.refusal(login)
    assert isinstance(error, InvalidCredentials)
    assert error.reason == "malformed_username"
    assert not world.directory.calls
    assert world.store.calls["authenticate_user"] == 0


# -- the break-glass admin ------------------------------------------------------------

ADMIN_SPELLINGS = [
    "admin",
    "ADMIN",
    "Admin",
    "\uff41\uff44\uff4d\uff49\uff4e",  # fullwidth
    "\u1d43dmin",  # MODIFIER LETTER SMALL A
    "\u24d0\u24d3\u24dc\u24d8\u24dd",  # circled letters
    "\U0001d41a\U0001d41d\U0001d426\U0001d422\U0001d427",  # mathematical bold
]


@pytest.mark.parametrize("login", ADMIN_SPELLINGS)
def test_the_break_glass_admin_never_goes_to_the_directory(world, login):
    # A directory entry under the same name and password must not be what logs in.
    world.directory.add_user(login, ADMIN_PASSWORD, directory_user(login))
    principal = world.login(login, ADMIN_PASSWORD)
    assert principal == Principal(username="admin", is_admin=True, dn=None, method="local_admin")
    assert world.store.calls["authenticate_user"] == 1
    error = world.refusal(login, "not-the-password")
    assert (type(error), error.reason) == (InvalidCredentials, "bad_password")
    assert not world.directory.calls


def test_a_configured_admin_name_is_the_one_kept_from_the_directory(tmp_path):
    world = make_world(tmp_path, mlflow={"admin_username": "BreakGlass"})
    world.store.create_user("BreakGlass", ADMIN_PASSWORD, is_admin=True)
    world.directory.add_user("admin", PASSWORD, directory_user("admin"))
    assert world.login("breakglass", ADMIN_PASSWORD) == Principal(
        "BreakGlass", True, method="local_admin"
    )
    assert world.binds == 0
    # "admin" is an ordinary directory user on this server.
    assert world.login("admin") == Principal("admin", False, dn=f"uid=admin,ou=people,{BASE}")
    assert world.binds == 1


@pytest.mark.parametrize("login", ["admin", "ADMIN"])
def test_the_legacy_default_password_is_refused_even_when_stored(tmp_path, login):
    world = make_world(tmp_path)
    world.store.create_user("admin", LEGACY_DEFAULT_ADMIN_PASSWORD, is_admin=True)
    error = world.refusal(login, LEGACY_DEFAULT_ADMIN_PASSWORD)
    assert (type(error), error.reason) == (InvalidCredentials, "legacy_default_password")
    assert world.store.calls["authenticate_user"] == 0
    assert not world.directory.calls


def test_no_break_glass_row_no_break_glass_login(tmp_path):
    world = make_world(tmp_path)
    world.directory.add_user("admin", ADMIN_PASSWORD, directory_user("admin"))
    error = world.refusal("admin", ADMIN_PASSWORD)
    assert (type(error), error.reason) == (InvalidCredentials, "no_user")
    assert not world.directory.calls


def test_a_verified_break_glass_password_is_remembered_until_it_is_rotated(world):
    world.login("admin", ADMIN_PASSWORD)
    world.login("Admin", ADMIN_PASSWORD)
    assert world.store.calls["authenticate_user"] == 1
    world.store.update_user("admin", password="rotated-password-22")
    error = world.refusal("admin", ADMIN_PASSWORD)
    assert error.reason == "bad_password"
    assert world.store.calls["authenticate_user"] == 2
    assert world.login("admin", "rotated-password-22").username == "admin"


def test_a_wrong_break_glass_password_is_negatively_cached(world):
    for _ in range(3):
        assert world.refusal("admin", "guess-1").reason == "bad_password"
    assert world.store.calls["authenticate_user"] == 1
    assert world.login("admin", ADMIN_PASSWORD).is_admin is True
    assert world.store.calls["authenticate_user"] == 2


# LDAP equality matching ignores surrounding spaces (RFC 4518): so must the name rule.
@pytest.mark.parametrize("login", ["admin ", " admin"])
def test_the_break_glass_name_with_surrounding_spaces_never_goes_to_the_directory(world, login):
    # What a server matching uid with caseIgnoreMatch returns for the spaced name.
    world.directory.add_user(login, ADMIN_PASSWORD, directory_user("admin"))
    with contextlib.suppress(AuthError):  # refused or logged in locally: either is fine
        world.login(login, ADMIN_PASSWORD)
    assert not world.directory.calls


# -- directory users ------------------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["admin", "Admin", "ADMIN", "\uff41\uff44\uff4d\uff49\uff4e", "\u24d0dmin"]
)
def test_a_directory_user_named_like_the_local_admin_is_refused(world, username):
    world.directory.add_user("CORP\\alice-alt", PASSWORD, directory_user(username))
    error = world.refusal("CORP\\alice-alt")
    assert (type(error), error.reason) == (NotAllowed, "local_admin_name")
    assert world.binds == 1
    # Nothing was provisioned or changed; the break-glass account still works.
    assert world.store.calls["create_user"] == 1  # the fixture's admin row
    assert world.store.calls["update_user"] == 0
    assert world.login("admin", ADMIN_PASSWORD) == Principal("admin", True, method="local_admin")


def test_not_in_allowed_groups_is_not_allowed_and_not_provisioned(tmp_path):
    world = make_world(tmp_path, allowed_groups=group_dn("mlflow-users"))
    world.directory.add_user("eve", PASSWORD, directory_user("eve", {group_dn("x"): "u-x"}))
    look_alike = "cn=mlflow-users+ou=groups,dc=example,dc=org"
    world.directory.add_user("mallory", PASSWORD, directory_user("mallory", {look_alike: None}))
    member = directory_user("alice", {group_dn("mlflow-users"): USERS_UUID})
    world.directory.add_user("alice", PASSWORD, member)
    for login in ("eve", "mallory"):
        error = world.refusal(login)
        assert (type(error), error.reason) == (NotAllowed, "not_in_allowed_groups")
        assert not world.store.has_user(login)
    assert world.login("alice").username == "alice"
    assert world.store.has_user("alice")


def test_allowed_groups_in_another_spelling(tmp_path):
    world = make_world(tmp_path, allowed_groups="CN=MLflow-Users, OU=Groups, DC=Example, DC=Org")
    member = directory_user("alice", {group_dn("mlflow-users"): USERS_UUID})
    world.directory.add_user("alice", PASSWORD, member)
    assert world.login("alice").username == "alice"


def test_a_second_login_is_answered_from_the_cache(world):
    first = world.login("alice")
    assert first == Principal("alice", False, dn=f"uid=alice,ou=people,{BASE}")
    assert world.login("alice") == first
    assert world.binds == 1
    assert world.store.calls["create_user"] == 1  # the admin row
    assert world.store.calls["add_directory_user"] == 1  # alice, once, without a password
    # Another password is another question.
    assert world.refusal("alice", "other-password").reason == "bad_password"
    assert world.binds == 2


def test_a_directory_outage_is_not_remembered(world):
    world.directory.failure = unavailable()
    for _ in range(2):
        assert isinstance(world.refusal("alice"), DirectoryUnavailable)
    assert world.binds == 2
    world.directory.failure = None
    assert world.login("alice").username == "alice"
    assert world.binds == 3


def test_the_break_glass_admin_works_while_the_directory_is_down(world):
    world.directory.failure = unavailable()
    assert world.login("admin", ADMIN_PASSWORD) == Principal("admin", True, method="local_admin")
    assert not world.directory.calls


def test_a_wrong_password_is_negatively_cached(world):
    for _ in range(3):
        error = world.refusal("alice", "stale-password")
        assert (type(error), error.reason) == (InvalidCredentials, "bad_password")
    assert world.binds == 1
    assert world.login("alice").username == "alice"  # the right one is not blocked
    assert world.binds == 2


def test_without_a_negative_cache_every_wrong_password_is_asked(tmp_path):
    world = make_world(tmp_path, negative_cache_ttl_seconds=0)
    world.directory.add_user("alice", PASSWORD, directory_user("alice"))
    for _ in range(2):
        world.refusal("alice", "stale-password")
    assert world.binds == 2


def test_a_throttled_attempt_is_not_remembered(world):
    world.directory.failure = InvalidCredentials("too many failed binds", reason=THROTTLED)
    for _ in range(2):
        assert world.refusal("alice").reason == THROTTLED
    assert world.binds == 2
    world.directory.failure = None
    assert world.login("alice").username == "alice"


def test_a_refusal_after_a_good_bind_is_remembered(tmp_path):
    world = make_world(tmp_path, allowed_groups=group_dn("mlflow-users"))
    world.directory.add_user("eve", PASSWORD, directory_user("eve"))
    for _ in range(2):
        assert world.refusal("eve").reason == "not_in_allowed_groups"
    assert world.binds == 1


def test_the_spraying_guard_is_handed_to_the_directory(tmp_path):
    guard = object()
    world = make_world(tmp_path, lockout=guard)
    world.directory.add_user("alice", PASSWORD, directory_user("alice"))
    world.login("alice")
    assert world.directory.guards == [guard]


def cached_principal(service, header):
    """What ``web.authn.cached_principal`` asks the login service for a Basic header."""
    try:
        credential = parse_authorization(header)
    except InvalidCredentials:
        return None
    return None if credential is None else service.peek(credential.login, credential.password)


def test_cached_principal_answers_from_memory_only(world):
    header = basic("alice", PASSWORD)
    assert cached_principal(world.service, header) is None  # not logged in yet
    principal = world.login("alice")
    world.login("admin", ADMIN_PASSWORD)
    service = world.service
    for name in ("directory", "store", "accounts", "sync", "lockout"):
        setattr(service, name, Tripwire(name))
    service.provisioner = Tripwire("provisioner")
    assert cached_principal(service, header) == principal
    assert cached_principal(service, basic("alice", "other-password")) is None
    assert cached_principal(service, basic("bob", PASSWORD)) is None
    assert cached_principal(service, basic("admin", ADMIN_PASSWORD)) is None  # never from memory
    assert cached_principal(service, basic("alice", "")) is None
    assert cached_principal(service, basic("ali\u200bce", PASSWORD)) is None
    assert cached_principal(service, "Bearer abc") is None
    assert cached_principal(service, "Basic !!!") is None
    assert cached_principal(service, None) is None


# -- provisioning and the admin flag --------------------------------------------------


def test_the_admin_flag_comes_from_admin_groups_at_every_fresh_bind(tmp_path):
    world = make_world(tmp_path, admin_groups=group_dn("mlflow-admins"))
    admin = directory_user("alice", {group_dn("mlflow-admins"): ADMINS_UUID})
    world.directory.add_user("alice", PASSWORD, admin)
    assert world.login("alice").is_admin is True
    assert world.store.get_user("alice").is_admin is True
    assert world.accounts.is_known("alice")
    # Removed from the group: the next fresh bind takes the flag away.
    world.directory.add_user("alice", PASSWORD, directory_user("alice", {group_dn("x"): "u-x"}))
    world.service.cache.clear()
    assert world.login("alice").is_admin is False
    assert world.store.get_user("alice").is_admin is False


def test_an_existing_mlflow_user_is_adopted_without_its_admin_flag(world):
    world.store.create_user("alice", "basic-auth-password-1", is_admin=True)
    assert not world.accounts.is_known("alice")
    assert world.login("alice").is_admin is False
    assert world.store.get_user("alice").is_admin is False
    assert world.accounts.origins["alice"] == "adopted"


def test_the_adoption_is_audited_with_the_flag_the_row_had(world, caplog):
    world.store.create_user("alice", "basic-auth-password-1", is_admin=True)
    with caplog.at_level(logging.INFO, logger="mlflow_ldap_auth.audit"):
        world.login("alice")
    adopted = [
        json.loads(r.getMessage()) for r in caplog.records if "user_adopted" in r.getMessage()
    ]
    assert [(a["user"], a["previous_admin"], a["admin"]) for a in adopted] == [
        ("alice", True, False)
    ]


def test_the_loser_of_two_concurrent_adoptions_takes_the_winners_row(world, caplog):
    """Another worker adopts the row between this login's read of the record and its own
    adoption: this one writes nothing, audits nothing, and serves the winner's flag."""
    world.store.create_user("alice", "basic-auth-password-1", is_admin=True)
    accounts, won = world.accounts, []
    adopt = accounts.adopt

    def another_login_adopts_first(username, is_admin):
        if not won:
            won.append(adopt(username, is_admin))  # the other worker's adoption
        return adopt(username, is_admin)

    accounts.adopt = another_login_adopts_first
    with caplog.at_level(logging.INFO, logger="mlflow_ldap_auth.audit"):
        assert world.login("alice").is_admin is False
    assert won == [True]
    assert world.store.get_user("alice").is_admin is False
    assert accounts.origins == {"alice": "adopted"}
    assert not [r for r in caplog.records if "user_adopted" in r.getMessage()]


def test_with_nothing_configured_a_known_users_flag_stays_mlflows(world):
    assert world.login("alice").is_admin is False
    world.store.update_user("alice", is_admin=True)  # an MLflow admin made alice one
    world.service.cache.clear()
    assert world.login("alice").is_admin is True
    assert world.store.get_user("alice").is_admin is True


def test_a_login_syncs_the_managed_roles(world):
    role = world.store.create_role(managed_role_name("u-ds"))
    world.groups.upsert("u-ds", group_dn("data-science"), "data-science")
    world.directory.add_user(
        "bob", PASSWORD, directory_user("bob", {group_dn("data-science"): "u-ds"})
    )
    world.login("bob")
    assert world.store.assignments == {(world.store.get_user("bob").id, role)}


def test_a_first_login_reads_no_mlflow_row_and_writes_rows_and_roles_at_once(world):
    """Each read and write of a first login is several round trips on PostgreSQL: a name
    the plugin does not know is written straight away, the roles with the rows."""
    role = world.store.create_role(managed_role_name("u-ds"))
    world.groups.upsert("u-ds", group_dn("data-science"), "data-science")
    world.directory.add_user(
        "bob", PASSWORD, directory_user("bob", {group_dn("data-science"): "u-ds"})
    )
    world.store.calls.clear()
    world.login("bob")
    assert world.store.calls["get_user"] == 0
    assert world.accounts.calls["create_directory_user"] == 1
    assert world.groups.calls["managed_roles_of"] == 1
    assert world.groups.calls["assigned_roles"] == world.groups.calls["change_assignments"] == 0
    assert world.store.assignments == {(world.store.get_user("bob").id, role)}
    assert world.accounts.origins["bob"] == "provisioned"


def test_the_loser_of_two_concurrent_first_logins_takes_the_winners_rows(world):
    """Another worker's first login of the same user writes between this one's read and
    its write: this one's write fails whole, and it goes on with the winner's rows (no
    adoption, no second row, the roles there already)."""
    role = world.store.create_role(managed_role_name("u-ds"))
    world.groups.upsert("u-ds", group_dn("data-science"), "data-science")
    world.directory.add_user(
        "bob", PASSWORD, directory_user("bob", {group_dn("data-science"): "u-ds"})
    )
    accounts, reads = world.accounts, []
    known = accounts.is_known

    def winner_writes_after_the_read(username):
        if not reads:
            reads.append(username)
            assert accounts.create_directory_user(username, False, {role}) is not None
            return False
        return known(username)

    accounts.is_known = winner_writes_after_the_read
    assert world.login("bob") == Principal("bob", False, dn=f"uid=bob,ou=people,{BASE}")
    assert accounts.calls["create_directory_user"] == 2
    assert accounts.origins == {"bob": "provisioned"}
    assert world.store.assignments == {(world.store.get_user("bob").id, role)}
    assert world.groups.calls["change_assignments"] == 0


# -- the same decisions on the real stores --------------------------------------------


def test_on_real_stores_login_provisions_syncs_and_keeps_the_break_glass_apart(tmp_path):
    world = make_world(tmp_path, backend="real", admin_groups=group_dn("mlflow-admins"))
    store = world.store
    store.create_user("admin", ADMIN_PASSWORD, is_admin=True)
    ds = store.create_role(managed_role_name("u-ds"), "default", None).id
    world.groups.upsert("u-ds", group_dn("data-science"), "data-science")
    user = directory_user(
        "alice", {group_dn("mlflow-admins"): ADMINS_UUID, group_dn("data-science"): "u-ds"}
    )
    world.directory.add_user("alice", PASSWORD, user)
    world.directory.add_user("ADMIN", ADMIN_PASSWORD, directory_user("ADMIN"))

    assert world.login("alice") == Principal("alice", True, dn=user.dn)
    assert world.login("alice").is_admin is True
    assert world.binds == 1
    row = store.get_user("alice")
    assert row.is_admin is True
    assert world.groups.assigned_roles(row.id, "ldap-group:") == {ds}
    assert world.accounts.is_known("alice")

    assert world.login("ADMIN", ADMIN_PASSWORD) == Principal("admin", True, method="local_admin")
    store.update_user("admin", password="rotated-password-22")
    assert world.refusal("admin", ADMIN_PASSWORD).reason == "bad_password"
    assert world.login("admin", "rotated-password-22").username == "admin"
    assert world.binds == 1


@pytest.mark.parametrize(
    "name, expected",
    [
        ("alice", False),
        ("DOMAIN\\alice", False),
        ("alice@example.com", False),
        ("\x00\x7f", False),  # control characters are refused elsewhere, not format ones
        ("al\u00adice", True),  # SOFT HYPHEN, the first format character
        ("ali\u200bce", True),
        ("\ufeffalice", True),
        ("z\u00e9ro", False),
        ("\U000e0041", True),  # TAG LATIN CAPITAL LETTER A
    ],
)
def test_format_characters_are_found_in_and_only_in_names_beyond_ascii(name, expected):
    from mlflow_ldap_auth.auth.login import has_format_characters

    assert has_format_characters(name) is expected
