"""The in-memory fakes behave like the real stores in everything the unit tests rely on.

Each test runs twice: on the fakes (``fakes.py``) and on MLflow's ``SqlAlchemyStore``
with the plugin's ``GroupStore`` / ``AccountStore`` on one SQLite file.
"""

import pytest
import sqlalchemy as sa
from fakes import make_backend
from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.auth.access import MANAGED_ROLE_PREFIX, managed_role_name
from mlflow_ldap_auth.mlflow_compat.mlflow_tables import NO_LOCAL_PASSWORD

PASSWORD = "a-long-enough-password-1"
OTHER_PASSWORD = "another-long-password-2"


@pytest.fixture(params=["fake", "real"])
def backend(request, tmp_path):
    return make_backend(request.param, tmp_path)


def error_code(call, *args, **kwargs):
    with pytest.raises(MlflowException) as raised:
        call(*args, **kwargs)
    return raised.value.error_code


def test_users(backend):
    store = backend.store
    assert store.has_user("bob") is False
    assert error_code(store.get_user, "bob") == "RESOURCE_DOES_NOT_EXIST"
    store.create_user("bob", PASSWORD, is_admin=False)
    assert store.has_user("bob") is True
    assert error_code(store.create_user, "bob", PASSWORD) == "RESOURCE_ALREADY_EXISTS"
    user = store.get_user("bob")
    assert (user.username, user.is_admin) == ("bob", False)
    store.update_user("bob", is_admin=True)
    assert store.get_user("bob").is_admin is True
    assert store.get_user("bob").id == user.id
    assert store.authenticate_user("bob", PASSWORD) is True
    assert store.authenticate_user("bob", OTHER_PASSWORD) is False
    assert store.authenticate_user("nobody", PASSWORD) is False


def test_password_hash_changes_at_every_update(backend):
    accounts, store = backend.accounts, backend.store
    assert accounts.stored_password_hash("admin") is None
    store.create_user("admin", PASSWORD, is_admin=True)
    first = accounts.stored_password_hash("admin")
    assert first
    store.update_user("admin", password=PASSWORD)  # the same password again
    second = accounts.stored_password_hash("admin")
    assert second and second != first
    store.update_user("admin", is_admin=True)  # not a password change
    assert accounts.stored_password_hash("admin") == second


def test_accounts_adopt_a_row_made_elsewhere_once(backend):
    accounts, store = backend.accounts, backend.store
    assert accounts.adopt("bob", False) is None  # no row: nothing to adopt, nothing kept
    assert accounts.is_known("bob") is False
    store.create_user("bob", PASSWORD, is_admin=True)  # made elsewhere (basic-auth)
    assert accounts.adopt("bob", False) is True  # the flag the row had
    assert store.get_user("bob").is_admin is False
    assert accounts.is_known("bob") is True
    assert accounts.is_known("Bob") is False
    assert accounts.adopt("bob", True) is None  # once: the next login finds it known
    assert store.get_user("bob").is_admin is False
    store.create_user("carol", PASSWORD, is_admin=False)
    assert accounts.adopt("carol", False) is False
    assert store.get_user("carol").is_admin is False
    assert accounts.create_directory_user("dave", False) is not None
    assert accounts.adopt("dave", True) is None  # provisioned, not adopted
    assert store.get_user("dave").is_admin is False


def test_group_rows(backend):
    groups = backend.groups
    assert groups.list() == []
    row = groups.upsert("A43BF8A0-7FD9-1041-98D9-A3FFDC04979C", "cn=ds,dc=x", "ds")
    assert row.uuid == "a43bf8a0-7fd9-1041-98d9-a3ffdc04979c"
    assert (row.dn, row.name, row.is_admin) == ("cn=ds,dc=x", "ds", False)
    assert groups.by_uuid("A43BF8A0-7FD9-1041-98D9-A3FFDC04979C") == row
    moved = groups.upsert(row.uuid, "cn=data-science,dc=x", None)  # no name: keep it
    assert (moved.id, moved.dn, moved.name) == (row.id, "cn=data-science,dc=x", "ds")
    groups.upsert("b", "cn=analysts,dc=x", "analysts")
    assert [g.dn for g in groups.list()] == ["cn=analysts,dc=x", "cn=data-science,dc=x"]
    groups.set_admin(row.uuid.upper(), True)
    assert groups.by_uuid(row.uuid).is_admin is True
    groups.delete(row.uuid)
    assert groups.by_uuid(row.uuid) is None
    assert [g.uuid for g in groups.list()] == ["b"]


def test_role_assignments(backend):
    store, groups = backend.store, backend.groups
    store.create_user("bob", PASSWORD)
    store.create_user("eve", PASSWORD)
    bob, eve = store.get_user("bob").id, store.get_user("eve").id
    managed = backend.create_role(managed_role_name("u1"))
    other_managed = backend.create_role(managed_role_name("u2"))
    by_hand = backend.create_role("data-team")
    assert sorted(groups.managed_roles_of(["u1", "u2", "u3"])) == sorted(
        [(managed, "ldap-group:u1"), (other_managed, "ldap-group:u2")]
    )
    store.assign_role_to_user(bob, managed)
    store.assign_role_to_user(bob, by_hand)
    store.assign_role_to_user(eve, other_managed)
    assert error_code(store.assign_role_to_user, bob, managed) == "RESOURCE_ALREADY_EXISTS"
    assert groups.assigned_roles(bob, MANAGED_ROLE_PREFIX) == {managed}
    store.unassign_role_from_user(bob, managed)
    assert groups.assigned_roles(bob, MANAGED_ROLE_PREFIX) == set()
    assert error_code(store.unassign_role_from_user, bob, managed) == "RESOURCE_DOES_NOT_EXIST"
    assert groups.assigned_roles(eve, MANAGED_ROLE_PREFIX) == {other_managed}


def test_directory_user_rows_are_made_in_one_go_and_take_no_password(backend):
    store, accounts = backend.store, backend.accounts
    user_id = accounts.create_directory_user("bob", True).user_id
    assert accounts.is_known("bob") is True
    user = store.get_user("bob")
    assert user.id == user_id
    assert (user.username, user.is_admin) == ("bob", True)
    assert accounts.stored_password_hash("bob") == NO_LOCAL_PASSWORD
    for guess in ("", PASSWORD, NO_LOCAL_PASSWORD, "!directory-account"):
        assert store.authenticate_user("bob", guess) is False
    assert accounts.create_directory_user("bob", False) is None  # a concurrent first login
    assert store.get_user("bob").is_admin is True
    # A row made elsewhere (basic-auth): neither row is written.
    store.create_user("eve", PASSWORD)
    assert accounts.create_directory_user("eve", False) is None
    assert accounts.is_known("eve") is False
    assert accounts.create_user_row("eve", False) is False
    assert accounts.create_user_row("carl", False) is True
    assert accounts.is_known("carl") is False
    assert store.get_user("carl").is_admin is False


def test_a_first_logins_managed_roles_are_assigned_with_its_rows(backend):
    """One write for the rows and the roles (none asked: none assigned)."""
    store, accounts, groups = backend.store, backend.accounts, backend.groups
    first, second = (backend.create_role(managed_role_name(f"u{i}")) for i in range(2))
    created = accounts.create_directory_user("bob", False, {first, second})
    assert created.roles_assigned is True
    assert groups.assigned_roles(created.user_id, MANAGED_ROLE_PREFIX) == {first, second}
    assert accounts.create_directory_user("bob", False, {first}) is None
    created = accounts.create_directory_user("carl", True)
    assert created.roles_assigned is False
    assert groups.assigned_roles(created.user_id, MANAGED_ROLE_PREFIX) == set()
    assert store.get_user("carl").is_admin is True


def test_role_assignments_change_in_one_write(backend):
    store, groups = backend.store, backend.groups
    store.create_user("bob", PASSWORD)
    bob = store.get_user("bob").id
    first, second, third = (backend.create_role(managed_role_name(f"u{i}")) for i in range(3))
    groups.change_assignments(bob, {first, second}, set())
    assert groups.assigned_roles(bob, MANAGED_ROLE_PREFIX) == {first, second}
    groups.change_assignments(bob, {third}, {first})
    assert groups.assigned_roles(bob, MANAGED_ROLE_PREFIX) == {second, third}
    with pytest.raises(sa.exc.IntegrityError):  # one already assigned: nothing written
        groups.change_assignments(bob, {first, second}, {third})
    assert groups.assigned_roles(bob, MANAGED_ROLE_PREFIX) == {second, third}


def test_a_login_reads_only_its_groups_rows_and_every_admin_mapping(backend):
    groups = backend.groups
    groups.upsert("u-ds", "cn=ds,dc=x", "ds")
    groups.upsert("u-ml", "cn=ml,dc=x", "ml")
    groups.upsert("u-admins", "cn=admins,dc=x", "admins")
    groups.set_admin("u-admins", True)
    assert [g.uuid for g in groups.relevant_to(["U-DS", "u-unmapped"])] == ["u-admins", "u-ds"]
    assert [g.uuid for g in groups.relevant_to([])] == ["u-admins"]
    many = [f"u-{i}" for i in range(1200)] + ["u-ml"]  # more than one statement's worth
    assert [g.uuid for g in groups.relevant_to(many)] == ["u-admins", "u-ml"]


def test_managed_roles_of_given_groups(backend):
    store, groups = backend.store, backend.groups
    ds = backend.create_role(managed_role_name("u-ds"))
    backend.create_role(managed_role_name("u-other"))
    backend.create_role("u-ds")  # made by hand, not managed
    assert groups.managed_roles_of(["U-DS", "u-unmapped"]) == [(ds, "ldap-group:u-ds")]
    assert groups.managed_roles_of([]) == []
    many = [f"u-{i}" for i in range(1200)] + ["u-ds"]
    assert groups.managed_roles_of(many) == [(ds, "ldap-group:u-ds")]
    assert store is backend.store
