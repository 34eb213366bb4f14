"""A Kerberos ticket's client principal -> the directory user (``auth.ticket_login``),
with the in-memory directory and stores of the login decisions' tests."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import directory_user, group_dn
from test_login_decisions import PASSWORD, USERS_UUID, make_world

from mlflow_ldap_auth.auth.ticket_login import TicketLogins, refuse_unusable, ticket_login_name
from mlflow_ldap_auth.errors import AuthError, InvalidCredentials, NotAllowed
from mlflow_ldap_auth.ldap.account_state import AccountState
from mlflow_ldap_auth.ldap.login_names import DomainNames

pytestmark = pytest.mark.unit

AD = DomainNames(frozenset({"corp"}), frozenset({"corp.example.com", "mlflow.example"}))


@pytest.mark.parametrize(
    ("principal", "login"),
    [
        ("alice@CORP.EXAMPLE.COM", "alice@CORP.EXAMPLE.COM"),
        ("alice@corp.example.com", "alice@corp.example.com"),
        ("jane.doe@MLFLOW.EXAMPLE", "jane.doe@MLFLOW.EXAMPLE"),
    ],
)
def test_the_domains_realm_in_any_case_is_looked_up_as_a_upn(principal, login):
    assert ticket_login_name(principal, AD, frozenset()) == login


@pytest.mark.parametrize(
    "principal",
    [
        "alice@EMEA.CORP.EXAMPLE.COM",
        "alice@CORP.EXAMPLE.COM.EVIL",
        "alice@EXAMPLE.COM",
        "alice@CORP",  # the NetBIOS name is no realm
    ],
)
def test_another_realm_is_foreign(principal):
    with pytest.raises(InvalidCredentials) as raised:
        ticket_login_name(principal, AD, frozenset())
    assert raised.value.reason == "foreign_realm"


def test_a_directory_that_is_not_ad_takes_realms_from_login_domains():
    assert ticket_login_name("alice@EXAMPLE.ORG", DomainNames(), frozenset({"example.org"})) == (
        "alice"
    )
    with pytest.raises(InvalidCredentials) as raised:
        ticket_login_name("alice@EXAMPLE.ORG", DomainNames(), frozenset())
    assert raised.value.reason == "foreign_realm"


@pytest.mark.parametrize("principal", ["alice", "@CORP.EXAMPLE.COM", "alice@"])
def test_a_principal_without_name_or_realm_is_malformed(principal):
    with pytest.raises(InvalidCredentials) as raised:
        ticket_login_name(principal, AD, frozenset())
    assert raised.value.reason == "malformed_negotiate"


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (AccountState("disabled"), "account_disabled"),
        (AccountState("locked"), "account_locked"),
        (AccountState("expired"), "account_expired"),
        (AccountState("ok", password_marker="0"), "must_change_password"),
    ],
)
def test_an_unusable_account_is_refused_with_the_reason_a_bind_gives(state, reason):
    user = dataclasses.replace(directory_user("alice"), account=state)
    with pytest.raises(InvalidCredentials) as raised:
        refuse_unusable(user)
    assert raised.value.reason == reason


def test_a_usable_account_passes():
    refuse_unusable(directory_user("alice"))
    refuse_unusable(
        dataclasses.replace(directory_user("alice"), account=AccountState("ok", "13000"))
    )


# -- the login ------------------------------------------------------------------------


class TicketDirectory:
    """``FakeDirectory`` plus what a ticket login asks: the domain's names and a look-up."""

    def __init__(self, directory) -> None:
        self._directory = directory
        self.looked_up: list[str] = []

    def __getattr__(self, name):
        return getattr(self._directory, name)

    def domain_names(self) -> DomainNames:
        return AD

    def lookup(self, login: str):
        self.looked_up.append(login)
        self._directory._call("lookup")
        name = login.rpartition("@")[0] or login
        return self._directory.users.get(name)


@pytest.fixture
def world(tmp_path):
    world = make_world(tmp_path, allowed_groups=group_dn("mlflow-users"))
    world.directory.add_user(
        "alice", PASSWORD, directory_user("alice", {group_dn("mlflow-users"): USERS_UUID})
    )
    world.directory.add_user("bob", PASSWORD, directory_user("bob"))
    world.service.directory = TicketDirectory(world.directory)
    return world


def test_a_ticket_is_admitted_as_a_password_login_and_cached(world):
    logins = TicketLogins(world.service)
    principal = logins.login("alice@CORP.EXAMPLE.COM", "203.0.113.7")
    assert (principal.username, principal.method) == ("alice", "negotiate")
    assert world.store.get_user("alice") is not None  # provisioned, as at a password login
    assert world.service.directory.looked_up == ["alice@CORP.EXAMPLE.COM"]
    again = logins.login("alice@CORP.EXAMPLE.COM", "203.0.113.7")
    assert again == principal
    assert world.directory.calls["lookup"] == 1  # warm: no directory round trip
    assert logins.peek("alice@CORP.EXAMPLE.COM") == principal
    assert world.directory.calls["authenticate"] == 0  # no bind: no password


def test_outside_allowed_groups_is_refused_like_a_password_login(world):
    with pytest.raises(NotAllowed):
        TicketLogins(world.service).login("bob@CORP.EXAMPLE.COM", None)


def test_a_foreign_realm_is_refused_without_a_search(world):
    with pytest.raises(InvalidCredentials) as raised:
        TicketLogins(world.service).login("alice@EMEA.EXAMPLE.COM", None)
    assert raised.value.reason == "foreign_realm"
    assert world.directory.calls["lookup"] == 0


def test_a_disabled_account_with_a_valid_ticket_is_refused(world):
    disabled = dataclasses.replace(world.directory.users["alice"], account=AccountState("disabled"))
    world.directory.users["alice"] = disabled
    with pytest.raises(InvalidCredentials) as raised:
        TicketLogins(world.service).login("alice@CORP.EXAMPLE.COM", None)
    assert raised.value.reason == "account_disabled"


def test_an_unknown_principal_is_unknown_user(world):
    with pytest.raises(InvalidCredentials) as raised:
        TicketLogins(world.service).login("nobody@CORP.EXAMPLE.COM", None)
    assert raised.value.reason == "unknown_user"


@pytest.mark.parametrize("principal", ["admin@CORP.EXAMPLE.COM", "ADMIN@corp.example.com"])
def test_the_break_glass_name_is_never_reached_by_a_ticket(world, principal):
    world.directory.add_user("admin", PASSWORD, directory_user("admin"))
    with pytest.raises(AuthError) as raised:
        TicketLogins(world.service).login(principal, None)
    assert raised.value.reason == "local_admin_name"
    assert world.directory.calls["lookup"] == 0


def test_a_ticket_login_and_a_password_login_never_share_a_cache_entry(world):
    TicketLogins(world.service).login("alice@CORP.EXAMPLE.COM", None)
    # The ticket's entry is no password of the login "alice@CORP.EXAMPLE.COM".
    assert world.service.peek("alice@CORP.EXAMPLE.COM", "\0ticket") is None
    assert world.service.peek("alice@CORP.EXAMPLE.COM", "") is None
